#!/usr/bin/env bash
# `npm run bench`: deps, build (weft + go-cnitool oracle), then every benchmark. Root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh "npm run bench" --oracle
exec ./node_modules/.bin/bun bench/run.ts "$@"
