#!/usr/bin/env bash
# README's first command: installs what it needs, builds, runs the multi-node demo cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh "npm run demo"
exec ./node_modules/.bin/bun scripts/demo-cluster.ts "$@"
