#!/usr/bin/env bash
# Builds dist/ref/go-cnitool (test oracle) from netns-fixtures/go-cnitool/main.go against Debian's Go
# libcni (golang-github-appc-cni-dev), offline, in GOPATH mode. Skips when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
src=netns-fixtures/go-cnitool/main.go
out=dist/ref/go-cnitool
[[ -x $out && $out -nt $src ]] && exit 0
mkdir -p dist/ref
GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-/var/cache/weft-go}" go build -o "$out" "$src"
echo "built $out"
