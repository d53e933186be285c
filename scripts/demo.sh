#!/usr/bin/env bash
# The main job: installs, builds, and runs a real sandbox over a sample repository,
# showing what an agent sees at each level (none, view, read, write) and the review of
# its changes. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh cli
bash scripts/build.sh cli >/dev/null
af="$PWD/build/agentfense"

repo=$(mktemp -d /tmp/agentfense-demo-XXXXXX)
trap 'rm -rf "$repo"' EXIT
mkdir -p "$repo"/{src,docs,config/secrets,output}
printf 'def main():\n    print("hello")  # TODO: greet by name\n' >"$repo/src/app.py"
printf '# Design\nInternal notes.\n' >"$repo/docs/design.md"
printf 'API_KEY=demo-not-a-real-secret\n' >"$repo/.env"
printf 'db-password=demo-not-a-real-secret\n' >"$repo/config/secrets/db.txt"
printf 'print("report")\n' >"$repo/output/report.py"

policy=(--preset agent-safe --rule '/docs/**=view')
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

step "explain: each path's level and the rule that decided it (--all shows hidden ones)" \
  "agentfense explain --all ${policy[*]} REPO"
"$af" explain --all "${policy[@]}" "$repo"

step "none: .env and secrets/ do not exist for the agent" "ls -a /workspace /workspace/config; cat .env"
"$af" run "${policy[@]}" "$repo" -- sh -c 'ls -a /workspace /workspace/config; cat .env' || true

step "view: docs/ names and sizes are visible, content is not" "ls -l docs; cat docs/design.md"
"$af" run "${policy[@]}" "$repo" -- sh -c 'ls -l docs; cat docs/design.md' || true

step "read: src/ can be read and searched but not changed" "grep -rn TODO .; echo x >> src/app.py"
"$af" run "${policy[@]}" "$repo" -- sh -c 'grep -rn TODO .; echo x >> src/app.py' || true

step "write: output/ takes changes; they are shown for review, not applied" \
  "echo 'print(42)' > output/result.py; rm output/report.py"
"$af" run "${policy[@]}" --changes show "$repo" -- \
  sh -c "echo 'print(42)' > output/result.py; rm output/report.py"
echo "host output/ after --changes show: $(ls "$repo/output")"

step "apply: the same command with --changes apply reaches the codebase" "(same command)"
"$af" run "${policy[@]}" --changes apply "$repo" -- \
  sh -c "echo 'print(42)' > output/result.py; rm output/report.py"
echo "host output/ after --changes apply: $(ls "$repo/output")"
