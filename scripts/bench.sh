#!/usr/bin/env bash
# `npm run bench`: deps, build (weft + go-cnitool oracle), then every benchmark. Root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "npm run bench needs root: it builds network namespaces" >&2; exit 1; fi
bash scripts/install-deps.sh
[[ -d node_modules/.bin ]] && [[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
npm run -s build
bash scripts/build-go-cnitool.sh
exec ./node_modules/.bin/bun bench/run.ts "$@"
