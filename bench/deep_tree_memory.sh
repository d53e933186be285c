#!/usr/bin/env bash
# What an agent's deep tree costs the fs process: inside `agentfense run`, a python loop
# makes a DEPTH-level chain of one-letter directories under output/ and FILES empty files
# at its bottom, then waits; meanwhile this script samples the peak resident memory of
# the run's `agentfense-fs` (which serves outside the sandbox's memory limit).
#
#     bash bench/deep_tree_memory.sh [BIN] [DEPTH] [FILES]    # defaults: build/agentfense 3000 20000
set -euo pipefail
bin=${1:-build/agentfense}
depth=${2:-3000}
files=${3:-20000}
repo=$(mktemp -d /var/tmp/af-deep-memory.XXXXXX)
trap 'rm -rf "$repo"' EXIT
mkdir -p "$repo/output"
echo "a sample file" > "$repo/README"
cat > "$repo/deep.py" <<PY
import os, time
os.chdir("/workspace/output")
for _ in range($depth):
    os.mkdir("d")
    os.chdir("d")
for i in range($files):
    open("f%06d" % i, "w").close()
time.sleep(5)  # the names stay known to the kernel, and so to the fs, while this waits
PY
"$bin" run --changes discard --rule '**=write' "$repo" -- python3 /workspace/deep.py &
run=$!
peak=0
while kill -0 "$run" 2>/dev/null; do
  for pid in $(pgrep -P "$run" || true) $(pgrep -P "$run" | xargs -r -n1 pgrep -P || true); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = agentfense-fs ] || continue
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$rss" ] && [ "$rss" -gt "$peak" ]; then peak=$rss; fi
  done
  sleep 0.2
done
wait "$run"
echo "agentfense-fs peak RSS: $((peak / 1024)) MB ($depth levels, $files files at the bottom)"
