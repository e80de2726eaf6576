#!/usr/bin/env bash
# The main job. For now: the stop-gradient demo (docs/stop-gradient.md explains its output).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
sg_install_missing_packages
sg_build >/dev/null
./build/examples/stopgrad_demo "$@"
