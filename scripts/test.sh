#!/usr/bin/env bash
# The one test command (README, .ci/run): deps, build, typecheck, all test layers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh "npm test" --oracle
npx tsc --noEmit -p tsconfig.json
npx vitest run "$@"
