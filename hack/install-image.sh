#!/usr/bin/env bash
# Install managed-hsm-operator into a fresh virtualenv at $1, exactly as the container image does.
# The Dockerfile runs this script, and tests/e2e/test_image_recipe.py runs it too, so the image recipe cannot rot
# unnoticed on machines without a container engine. Usage: hack/install-image.sh DEST [SOURCE_DIR]
set -euo pipefail
dest="${1:?usage: install-image.sh DEST [SOURCE_DIR]}"
src="${2:-.}"
python3 -m venv "${dest}"
"${dest}/bin/pip" install --no-cache-dir --quiet --upgrade pip
# A non-editable install of the runtime dependencies only (no dev extras): what ships is what runs.
"${dest}/bin/pip" install --no-cache-dir --quiet "${src}"
# Fail the build now, not at the first pod start, if an entry point or an import is broken.
"${dest}/bin/hsm-operator" --help > /dev/null
"${dest}/bin/hsm-emulator" --help > /dev/null
