#!/usr/bin/env bash
# Installs everything AgentFense needs to build and test on Debian 12, from Debian's
# packages and PyPI only. Idempotent; run as root. docker.io is for the docker runtime's
# tests, which start a dockerd of their own (tests/docker/dockerd.py); the package's own
# service is not needed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev \
  libfuse3-dev fuse3 bubblewrap slirp4netns libseccomp-dev libre2-dev libyaml-cpp-dev \
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libsqlite3-dev \
  libarchive-dev libssl-dev libcpp-httplib-dev libcurl4-openssl-dev python3-grpcio python3-protobuf \
  python3-pytest python3-requests python3-venv \
  jq git sqlite3 python3 python3-pip procps psmisc strace ca-certificates docker.io >/dev/null
python3 -m pip install -q --disable-pip-version-check pytest 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --break-system-packages pytest
