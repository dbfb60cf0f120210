#!/usr/bin/env bash
# The one test command (README, .ci/run): deps, build, typecheck, all test layers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh "npm test" --oracle
npx tsc --noEmit -p tsconfig.json
npx biome format . >/dev/null || { npx biome format . 2>&1 | tail -40; echo "npm test: files are not formatted: run npx biome format --write ." >&2; exit 1; }
npx vitest run "$@"
