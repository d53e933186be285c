#!/usr/bin/env bash
# Runs every test: installs dependencies, builds the release binaries and the ASan+UBSan
# configuration, runs the C++ unit tests under ASan+UBSan, then the end-to-end suites
# against the release binaries (real FUSE, real bwrap, the real server on loopback ports):
#   tests/integration         the CLI and the escape suite
#   tests/server_integration  every gRPC RPC and REST route, restart and kill -9
#   sdk/python/tests          the Python SDK (sync + async) against the real server,
#                             plain and with TLS + API keys
#   tests/mcp                 `agentfense mcp` driven by the official MCP client (PyPI)
#   tests/posix               pjdfstest over a writable mount, against its expected failures
# Each of the three Python suites starts a private dockerd of its own (tests/docker/dockerd.py:
# own socket, data root and containerd namespace, the test image imported from this
# machine's files) for the docker runtime's tests, and stops it at the end: no system
# dockerd or registry is used, and the docker tests run inside the suites, side by side.
# Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian's interpreter: it has python3-grpcio, python3-protobuf and pytest from apt,
# whatever `python3` a developer's PATH prefers.
PY=/usr/bin/python3
# Two builds share the two cores. The unit tests are built and run once, under
# ASan+UBSan (which also fails on what a release build would hide); the release build
# is only the binaries the end-to-end suites run. Building and running the unit tests in
# both took a clean CI run to 81 of its 90 minutes. (`scripts/build.sh release` builds
# them in release too, for `ctest --test-dir build`.)
bash scripts/build.sh binaries
bash scripts/build.sh asan
export AGENTFENSE_BIN="$PWD/build/agentfense"
status=0
echo "== unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j2 || status=1
echo "== Python SDK install"
# The suite tests the wheel users install (stubs, presets and py.typed inside), not the
# source tree; grpcio and protobuf come from Debian through the system site-packages.
# (test_wheel.py also installs it into a venv without them, from PyPI.)
rm -rf build/sdk-venv build/sdk-dist
"$PY" -m venv --system-site-packages build/sdk-venv
build/sdk-venv/bin/pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation \
  --wheel-dir build/sdk-dist ./sdk/python
build/sdk-venv/bin/pip install -q --disable-pip-version-check --no-deps build/sdk-dist/agentfense-*.whl
(cd build && sdk-venv/bin/python -c \
  'import agentfense; assert "/site-packages/" in agentfense.__file__, agentfense.__file__')
# The official MCP client, to drive `agentfense mcp` as agents' MCP clients do (pinned: its
# API moves between major versions).
build/sdk-venv/bin/pip install -q --disable-pip-version-check "mcp==2.3.0"
# The end-to-end suites mostly wait on sandboxes, not CPU: run them side by side and
# print each one's output when it ends.
logs=$(mktemp -d)
"$PY" -m pytest -q tests/integration >"$logs/cli" 2>&1 & cli=$!
"$PY" -m pytest -q tests/server_integration >"$logs/server" 2>&1 & srv=$!
# The SDK suite twice: against a plain loopback server, then against one with TLS and
# API keys required (AGENTFENSE_TEST_SERVER=tls; the wheel test needs no second run).
(build/sdk-venv/bin/python -m pytest -q sdk/python/tests &&
 AGENTFENSE_TEST_SERVER=tls build/sdk-venv/bin/python -m pytest -q sdk/python/tests \
   --ignore=sdk/python/tests/test_wheel.py) >"$logs/sdk" 2>&1 & sdk=$!
"$PY" tests/posix/pjdfstest.py >"$logs/posix" 2>&1 & posix=$!
build/sdk-venv/bin/python -m pytest -q tests/mcp >"$logs/mcp" 2>&1 & mcp=$!
for suite in cli:$cli server:$srv sdk:$sdk posix:$posix mcp:$mcp; do
  if wait "${suite#*:}"; then result=passed; else result=FAILED; status=1; fi
  echo "== end-to-end suite ${suite%%:*}: $result"
  cat "$logs/${suite%%:*}"
done
rm -rf "$logs"
exit $status
