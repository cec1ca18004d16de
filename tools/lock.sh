#!/usr/bin/env bash
# Regenerate requirements.lock, the exact versions tools/install.sh installs (CPython 3.11, Linux x86_64).
#   bash tools/lock.sh                          keep the versions already locked, add what the inputs gained
#   bash tools/lock.sh --upgrade                every package to its newest release within the ranges
#   bash tools/lock.sh --upgrade-package numpy  one package to its newest release
# Inputs: requirements.txt (the ranges library users get), tools/lock.in (what install.sh adds),
# tools/lock-test.in (test tools). Any extra argument goes to `uv pip compile`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "tools/lock.sh needs uv: python -m pip install uv" >&2; exit 1; }
TARGET=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header)
MARK="# --- test tools (bash tools/install.sh test) ---"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -f requirements.lock ]] && grep -v "^$MARK" requirements.lock > "$work/full.txt"  # locked versions are kept
uv pip compile -q requirements.txt tools/lock.in tools/lock-test.in "${TARGET[@]}" -o "$work/full.txt" "$@"
# The runtime set, preferring the full set's versions (checked below: both sections must agree).
cp "$work/full.txt" "$work/runtime.txt"
uv pip compile -q requirements.txt tools/lock.in "${TARGET[@]}" -o "$work/runtime.txt"
mismatch=$(grep '^[a-z0-9]' "$work/runtime.txt" | grep -vxFf <(grep '^[a-z0-9]' "$work/full.txt") || true)
if [[ -n "$mismatch" ]]; then
  printf 'tools/lock.sh: the runtime set resolved to other versions than the full set:\n%s\n' "$mismatch" >&2
  exit 1
fi
{
  echo "# Exact versions installed by tools/install.sh (CPython 3.11, Linux x86_64). Generated; do not edit."
  echo "# Regenerate after editing requirements.txt, tools/lock.in or tools/lock-test.in:"
  echo "#   bash tools/lock.sh"
  echo "# = uv pip compile requirements.txt tools/lock.in [tools/lock-test.in] ${TARGET[*]:0:4}"
  cat "$work/runtime.txt"
  echo "$MARK"
  # the blocks (a pin and its "# via" lines) of packages only the test tools need
  awk 'NR == FNR { if ($0 ~ /^[a-z0-9]/) { split($0, p, "=="); rt[p[1]] = 1 } next }
       /^[a-z0-9]/ { split($0, p, "=="); keep = !(p[1] in rt) }
       /^[a-z0-9]/ || /^    #/ { if (keep) print }' "$work/runtime.txt" "$work/full.txt"
} > "$work/lock"
mv "$work/lock" requirements.lock
echo "requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) pinned packages"
