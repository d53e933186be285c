#!/usr/bin/env bash
# Builds AgentFense. Usage: scripts/build.sh [release|asan]  (default release)
#   release -> build/        the binary users run (build/agentfense)
#   asan    -> build-asan/   ASan+UBSan, for the unit tests
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DAF_SANITIZE=ON) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir"
