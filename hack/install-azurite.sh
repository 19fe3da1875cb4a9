#!/usr/bin/env bash
# Install Azurite (the Azure Storage emulator; full backups are written to it in tests and `make run`) once into the
# cache outside the repo. Idempotent: does nothing when the pinned version is already installed.
#   AZURITE_VERSION (default 3.37.0), XDG_CACHE_HOME (default ~/.cache)
set -euo pipefail

version="${AZURITE_VERSION:-3.37.0}"
prefix="${XDG_CACHE_HOME:-$HOME/.cache}/managed-hsm-operator/azurite"
binary="$prefix/node_modules/.bin/azurite-blob"
installed="$prefix/node_modules/azurite/package.json"

if [ -x "$binary" ] && [ -f "$installed" ] && grep -q "\"version\": \"$version\"" "$installed"; then
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm not found; install Node.js (>= 18) to get Azurite" >&2; exit 1; }
mkdir -p "$prefix"
echo "installing azurite@$version into $prefix"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$version"
test -x "$binary" || { echo "error: $binary missing after npm install" >&2; exit 1; }
