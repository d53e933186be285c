#!/usr/bin/env bash
# Installs what AgentFense needs on Debian 12, from Debian's packages and PyPI only.
# Idempotent; run as root. Usage: scripts/setup.sh [all|cli]  (default all)
#   cli  builds and runs the `agentfense` CLI (scripts/demo.sh): no gRPC, SQLite or tests
#   all  everything: the server, the unit and end-to-end tests, the SDK; docker.io is for
#        the docker runtime's tests, which start dockerds of their own
#        (tests/docker/dockerd.py): the package's service is not needed
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
profile=${1:-all}
cli_packages=(
  build-essential cmake ninja-build pkg-config libfuse3-dev fuse3 bubblewrap
  liburing-dev  # FUSE over io_uring (src/fs/uring_transport.h)
  libseccomp-dev libre2-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libssl-dev
  libcpp-httplib-dev  # httplib: `agentfense mcp --http`
  libcurl4-openssl-dev)  # libcurl: `agentfense run --runtime docker` (dockerd's Engine API)
all_packages=(
  "${cli_packages[@]}" clang clang-format libclang-rt-14-dev slirp4netns
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libsqlite3-dev
  libarchive-dev python3-grpcio python3-protobuf
  python3-pytest python3-requests python3-venv python3-h2
  jq git sqlite3 python3 python3-pip procps psmisc strace ca-certificates docker.io
  autoconf automake)  # the last two build pjdfstest (tests/posix)
case "$profile" in
  cli) packages=("${cli_packages[@]}") ;;
  all) packages=("${all_packages[@]}") ;;
  *) echo "usage: $0 [all|cli]" >&2; exit 2 ;;
esac
# Only what is missing: an up-to-date machine skips apt entirely (apt-get update alone
# takes seconds to minutes).
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# FUSE over io_uring (kernel 6.14+) is off unless this module parameter says otherwise; the
# fs uses it when offered and /dev/fuse when not (docs/performance.md). Failing here
# (an older kernel, a read-only /sys in a container) only keeps the /dev/fuse path.
uring_param=/sys/module/fuse/parameters/enable_uring
if [ -w "$uring_param" ] && [ "$(cat "$uring_param")" != Y ]; then
  echo Y > "$uring_param" 2>/dev/null ||
    echo "note: could not enable FUSE over io_uring ($uring_param); using /dev/fuse" >&2
fi
# Moving a process into a cgroup (every sandbox's first command) waits for an RCU grace
# period, ~10 ms, unless the kernel favours dynamic cgroup changes (`favordynmods`, Linux
# 6.0+; docs/performance.md). The switch is the kernel's, one for every hierarchy; only
# the cgroup2 mount takes it on remount (a v1 hierarchy refuses new flags), so a host
# with v1 hierarchies alone keeps the slow moves. The mount's own options go along: a
# remount without them (nsdelegate, memory_recursiveprot) would clear them.
read -r cgroup2_mount cgroup2_options < <(awk -F' - ' '$2 ~ /^cgroup2 / {
  split($1, head, " "); split($2, tail, " "); print head[5], tail[3]; exit }' \
  /proc/self/mountinfo) || true
if [ -z "${cgroup2_mount:-}" ]; then
  echo "note: no cgroup2 mount: cgroup moves stay slow (~10 ms per new sandbox)" >&2
elif [[ ",$cgroup2_options," != *,favordynmods,* ]]; then
  mount -o "remount,${cgroup2_options},favordynmods" "$cgroup2_mount" 2>/dev/null ||
    echo "note: could not remount $cgroup2_mount with favordynmods; cgroup moves stay slow" >&2
fi
[ "$profile" = cli ] && exit 0
python3 -m pip install -q --disable-pip-version-check pytest 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check --break-system-packages pytest
