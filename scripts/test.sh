#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the release and the ASan+UBSan
# configurations, runs the C++ unit tests in both and the integration/escape suites
# (real FUSE, real bwrap) against the release binary. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two builds share the two cores; the ASan one is only needed for its unit tests.
bash scripts/build.sh release
bash scripts/build.sh asan
status=0
echo "== unit tests (release)"
ctest --test-dir build --output-on-failure -j2 || status=1
echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j2 || status=1
echo "== integration and escape suites"
AGENTFENSE_BIN="$PWD/build/agentfense" python3 -m pytest -q tests/integration || status=1
exit $status
