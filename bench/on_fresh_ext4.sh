#!/bin/bash
# Runs a bench command with the sandboxes' write layers (/var/lib/agentfense/cli-layers,
# where `agentfense run` keeps them as root) and the native side's scratch beside them on
# a fresh, journaled ext4 (a loop file), in a private mount namespace so nothing else on
# the host sees it. Why: on an ext4 without a journal (this development
# machine's root) creating a file skips every inode deleted nearby in the last minutes,
# so a create costs 10-20x more in a directory where sandboxes were just discarded than
# in one elsewhere, and write-heavy native/sandbox ratios measure the allocator's
# history, not AgentFense. A journaled ext4 is what most hosts run.
#
#   bench/on_fresh_ext4.sh [--size 8G] -- python3 bench/write_bench.py --rounds 3
set -euo pipefail
size=8G
if [ "${1:-}" = "--size" ]; then size=$2; shift 2; fi
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [--size 8G] -- CMD..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: needs root (loop mount, mount namespace)" >&2; exit 2; }

image=$(mktemp /var/tmp/agentfense-bench-ext4.XXXXXX)
trap 'rm -f "$image"' EXIT
truncate -s "$size" "$image"
mkfs.ext4 -q -F "$image"

layers=/var/lib/agentfense/cli-layers
mkdir -p /var/lib/agentfense
[ -d "$layers" ] || mkdir -m 700 "$layers"
export AF_BENCH_IMAGE=$image AF_BENCH_LAYERS=$layers
unshare -m --propagation private bash -euo pipefail -c '
  mount -o loop "$AF_BENCH_IMAGE" "$AF_BENCH_LAYERS"
  chmod 700 "$AF_BENCH_LAYERS"
  echo "write layers and native scratch on a fresh journaled ext4 ($AF_BENCH_IMAGE)" >&2
  "$@"
' bash "$@"
