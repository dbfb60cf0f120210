#!/usr/bin/env bash
# `npm run bench`: deps, build (weft + go-cnitool oracle, and the reference flannel plugin when its
# source is given), then every benchmark. Root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh "npm run bench" --oracle
# the reference flannel plugin, when WEFT_REF_FLANNEL_SRC names a flannel-io/cni-plugin checkout
bash scripts/build-go-flannel.sh
exec ./node_modules/.bin/bun bench/run.ts "$@"
