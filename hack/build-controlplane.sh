#!/usr/bin/env bash
# Build the local Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl, etcd)
# and helm from the Go module proxy into a cache outside the repository, once.
#
# Why a throwaway module: k8s.io/kubernetes requires its staging modules at v0.0.0 with local
# replaces, so `go install` cannot build it; a consumer module with one replace per staging module
# can (see ../shared/design/TEST-CLUSTER.md). etcd has relative replaces too, so it gets the same
# treatment. helm has none and installs directly.
#
# Prints the directory holding the binaries. Honours $KUBEBUILDER_ASSETS: when it is set and holds
# kube-apiserver and etcd, nothing is built and that directory is printed instead.
# `--check`: build nothing; print the directory and exit 0 if it is complete, else exit 3 (test fixtures use this to
# fail fast with advice instead of starting a multi-minute build under a per-test timeout).
#
# What worked (2026-11-29, Debian, Go 1.26.8, 2 cores, go.mod `go 1.24.0`): exactly this script, unchanged, built
# kube-apiserver/kube-controller-manager/kubectl v1.34.4, etcd v3.6.5 and helm v3.19.0 in about 7 minutes
# (Go's build cache may have been partly warm; budget 15+ minutes cold). `/version` reports v1.34.4 thanks to the
# ldflags below, `helm version` v3.19.0. Disk: ~340 MB of binaries, ~1.1 GB GOMODCACHE, ~3.6 GB GOCACHE.
# etcd v3.6.5 has --unsafe-no-fsync. The flags the processes are started with live in
# operator/hsm_devtools/controlplane.py (loopback advertise address + --endpoint-reconciler-type=none worked).
set -euo pipefail

check_only=false
case "${1:-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/kube-apiserver" && -x "${KUBEBUILDER_ASSETS}/etcd" ]]; then
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/managed-hsm-operator"
BIN_DIR="${CACHE_ROOT}/bin/k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}-helm-${HELM_VERSION}"
# Bump RECIPE when the build recipe changes: binaries already built are kept, missing markers rebuild the rest.
RECIPE=2
STAMP="${BIN_DIR}/.complete-r${RECIPE}"
if [[ -f "${STAMP}" ]]; then
  echo "${BIN_DIR}"
  exit 0
fi
if "${check_only}"; then
  echo "control-plane binaries not built yet (expected in ${BIN_DIR}); run \`make controlplane\`" >&2
  exit 3
fi

log() { echo "[build-controlplane] $*" >&2; }
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
mkdir -p "${BIN_DIR}"

# Serialise concurrent builds (a test run and `make run` started together).
exec 9>"${CACHE_ROOT}/build.lock"
flock 9
if [[ -f "${STAMP}" ]]; then echo "${BIN_DIR}"; exit 0; fi

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
staging_version="v0.${K8S_VERSION#v1.}"
staging_modules=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client
  csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator
  kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils
  pod-security-admission sample-apiserver sample-cli-plugin sample-controller)

k8s_mod="${CACHE_ROOT}/src/k8s-${K8S_VERSION}"
if [[ ! -x "${BIN_DIR}/kube-apiserver" || ! -x "${BIN_DIR}/kube-controller-manager" || ! -x "${BIN_DIR}/kubectl" ]]; then
  log "building Kubernetes ${K8S_VERSION} (first time only; several minutes on 2 cores)"
  mkdir -p "${k8s_mod}"
  {
    echo "module local/k8sbin"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    for m in "${staging_modules[@]}"; do echo "	k8s.io/${m} => k8s.io/${m} ${staging_version}"; done
    echo ")"
  } > "${k8s_mod}/go.mod"
  cat > "${k8s_mod}/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "${k8s_mod}" && go mod tidy >&2)
  ld="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1"
  ld+=" -X k8s.io/component-base/version.gitMinor=${minor} -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
  ld+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
  ld+=" -X k8s.io/component-base/version.gitTreeState=clean"
  for cmd in kube-apiserver kube-controller-manager kubectl; do
    log "go build ${cmd}"
    (cd "${k8s_mod}" && go build -trimpath -ldflags "${ld}" -o "${BIN_DIR}/${cmd}" "k8s.io/kubernetes/cmd/${cmd}")
  done
fi

etcd_mod="${CACHE_ROOT}/src/etcd-${ETCD_VERSION}"
if [[ ! -x "${BIN_DIR}/etcd" ]]; then
  log "building etcd ${ETCD_VERSION}"
  mkdir -p "${etcd_mod}"
  printf 'module local/etcdbin\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "${ETCD_VERSION}" > "${etcd_mod}/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > "${etcd_mod}/tools.go"
  (cd "${etcd_mod}" && go mod tidy >&2 && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/etcd" go.etcd.io/etcd/server/v3)
fi

# helm's default "cluster" version for `helm template`/`lint` comes from ldflags (its Makefile sets them from the
# client-go it vendors); without them it claims Kubernetes v1.20 and rejects charts with a newer kubeVersion.
if [[ ! -x "${BIN_DIR}/helm" || ! -f "${BIN_DIR}/.helm-ldflags" ]]; then
  log "installing helm ${HELM_VERSION}"
  hl="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    hl+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${minor}"
  done
  GOBIN="${BIN_DIR}" GOFLAGS="-buildvcs=false" go install -trimpath -ldflags "${hl}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
  touch "${BIN_DIR}/.helm-ldflags"
fi

touch "${STAMP}"
echo "${BIN_DIR}"
