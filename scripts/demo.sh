#!/usr/bin/env bash
# README's first command: installs what it needs, builds, runs the multi-node demo cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "npm run demo needs root: it builds network namespaces" >&2; exit 1; fi
bash scripts/install-deps.sh
[[ -d node_modules/.bin ]] && [[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
npm run -s build
exec ./node_modules/.bin/bun scripts/demo-cluster.ts "$@"
