#!/usr/bin/env bash
# Installs missing packages, builds into build/, and runs every test through CTest.
# Tests that need data which is absent report "Skipped" with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
sg_install_missing_packages
sg_build
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
