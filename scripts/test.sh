#!/usr/bin/env bash
# The one test command (README, .ci/run): deps, build, typecheck, all test layers.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $(id -u) -ne 0 ]]; then echo "npm test needs root: the tests build network namespaces" >&2; exit 1; fi
bash scripts/install-deps.sh
[[ -d node_modules/.bin ]] && [[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
npm run -s build
bash scripts/build-go-cnitool.sh
npx tsc --noEmit -p tsconfig.json
npx vitest run "$@"
