#!/usr/bin/env bash
# Builds the Go test oracles against Debian's Go libcni (golang-github-appc-cni-dev), offline, in
# GOPATH mode: dist/ref/go-cnitool from netns-fixtures/oracles/go-cnitool/main.go and dist/ref/go-convert
# from netns-fixtures/oracles/go-convert/main.go. Skips each one that is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist/ref
for name in go-cnitool go-convert; do
  src=netns-fixtures/oracles/$name/main.go
  out=dist/ref/$name
  [[ -x $out && $out -nt $src ]] && continue
  GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-/var/cache/weft-go}" go build -o "$out" "$src"
  echo "built $out"
done
