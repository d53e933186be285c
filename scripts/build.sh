#!/usr/bin/env bash
# Builds AgentFense. Usage: scripts/build.sh [release|binaries|asan|cli]  (default release)
#   release  -> build/        everything: build/agentfense, build/agentfense-server, tests
#   binaries -> build/        the release binaries without the unit tests: what the
#                             end-to-end suites run (scripts/test.sh runs the unit tests
#                             in the ASan build only)
#   asan     -> build-asan/   ASan+UBSan, for the unit tests
#   cli     -> build/        only build/agentfense (what scripts/demo.sh runs): needs only
#                            the packages of `scripts/setup.sh cli`
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
targets=()
case "$kind" in
  release) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAF_SERVER=ON -DAF_TESTS=ON) ;;
  binaries) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAF_SERVER=ON -DAF_TESTS=OFF) ;;
  asan) dir=build-asan; flags=(-DCMAKE_BUILD_TYPE=Debug -DAF_SANITIZE=ON -DAF_SERVER=ON -DAF_TESTS=ON) ;;
  cli) dir=build; flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAF_SERVER=OFF -DAF_TESTS=OFF)
       targets=(agentfense) ;;
  *) echo "usage: $0 [release|binaries|asan|cli]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$dir" "${targets[@]}"
