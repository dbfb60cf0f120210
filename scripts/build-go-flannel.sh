#!/usr/bin/env bash
# Builds the reference flannel CNI plugin (flannel-io/cni-plugin) as a benchmark oracle,
# dist/ref/flannel, so bench/cni-daemon.ts can time the whole reference chain (flannel -> bridge ->
# host-local) and not only Debian's bridge -> host-local. Debian ships no flannel plugin and this
# machine reaches no Go module proxy, so the source comes from a local checkout (a work tree or a bare
# git directory) and builds offline in GOPATH mode against Debian's Go libcni (golang-github-appc-cni-dev):
# the plugin imports nothing else outside the standard library.
#   WEFT_REF_FLANNEL_SRC=/path/to/cni-plugin bash scripts/build-go-flannel.sh
# Without WEFT_REF_FLANNEL_SRC it says so and exits 0: the benchmark then leaves that side out.
set -euo pipefail
cd "$(dirname "$0")/.."
src="${WEFT_REF_FLANNEL_SRC:-}"
if [[ -z $src ]]; then
  echo "WEFT_REF_FLANNEL_SRC is not set: no reference flannel plugin built (bench/cni-daemon.ts leaves that side out)"
  exit 0
fi
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
pkg=$gopath/src/github.com/flannel-io/cni-plugin
mkdir -p "$pkg"
if [[ -f $src/flannel.go ]]; then
  cp "$src"/flannel.go "$src"/flannel_linux.go "$pkg"/
else
  git --git-dir "$src" archive HEAD flannel.go flannel_linux.go | tar -x -C "$pkg"
fi
mkdir -p dist/ref
(cd "$pkg" && GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-/var/cache/weft-go}" \
  go build -o "$OLDPWD/dist/ref/flannel" .)
echo "built dist/ref/flannel from $src"
