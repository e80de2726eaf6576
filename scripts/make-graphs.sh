#!/usr/bin/env bash
# Regenerates the autograd graphs docs/stop-gradient.md shows (SimSiam, SimSiam-GSG and BYOL
# losses of the demo's tiny model, stop-gradient cuts dashed): docs/graphs/loss-*.svg.
# Installs Debian's graphviz (the `dot` renderer) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
sg_packages+=(graphviz)
sg_install_missing_packages
sg_build >/dev/null
./build/examples/stopgrad_demo --graph docs/graphs/loss.svg
