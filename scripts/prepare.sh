#!/usr/bin/env bash
# What `npm test`, `npm run demo` and `npm run bench` need first, on a fresh Debian machine as root:
# Debian packages, npm packages (npm ci when the lock changed), dist/weft, and with --oracle the
# go-cnitool test oracle. Usage: bash scripts/prepare.sh "<command name>" [--oracle]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "$1 needs root: it builds network namespaces" >&2; exit 1; fi
bash scripts/install-deps.sh
[[ -d node_modules/.bin ]] && [[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
npm run -s build
if [[ ${2:-} == --oracle ]]; then bash scripts/build-go-cnitool.sh; fi
