#!/usr/bin/env bash
# Run every scripts/stress/*.py (repetition checks kept out of the default suite: 20 stops, 40
# workers, ...) with the Python 3.11 environment scripts/test.sh built (.venv-test/3.11), and with
# 3.12's too when it is there. Each script prints one result line per check and exits non-zero on
# failure; it is killed after STRESS_TIMEOUT seconds (default 900). Prints each script's result
# lines, its verdict and time, then the total; exits 1 if any script failed or timed out.
#   bash scripts/stress.sh [NAME ...]        # NAME: a script's file name without .py (default: all)
#   STRESS_PYTHONS="3.11" STRESS_TIMEOUT=300 bash scripts/stress.sh
set -uo pipefail
cd "$(dirname "$0")/.."

timeout_s="${STRESS_TIMEOUT:-900}"
pythons=()
for version in ${STRESS_PYTHONS:-3.11 3.12}; do
  [ -x ".venv-test/$version/bin/python" ] && pythons+=("$version")
done
if [ ${#pythons[@]} -eq 0 ]; then
  echo "stress: no .venv-test/3.11 (or 3.12): run bash scripts/test.sh first (TEST_SETUP_ONLY=1 only builds them)"
  exit 1
fi

scripts=()
if [ $# -gt 0 ]; then
  for name in "$@"; do scripts+=("scripts/stress/${name%.py}.py"); done
else
  shopt -s nullglob
  scripts=(scripts/stress/*.py)
  shopt -u nullglob
fi
if [ ${#scripts[@]} -eq 0 ]; then
  echo "stress: no scripts in scripts/stress/; nothing to run"
  exit 0
fi

passed=0 failed=0 status=0 started=$SECONDS
log=$(mktemp -d "${TMPDIR:-/tmp}/stress-logs.XXXXXX")
trap 'rm -rf "$log"' EXIT
for version in "${pythons[@]}"; do
  for script in "${scripts[@]}"; do
    name=$(basename "$script" .py)
    t0=$SECONDS
    if [ ! -f "$script" ]; then
      rc=127; echo "no such script" >"$log/err"; : >"$log/out"
    else
      timeout -k 10 "$timeout_s" ".venv-test/$version/bin/python" "$script" >"$log/out" 2>"$log/err" </dev/null
      rc=$?
    fi
    sed "s/^/  [$version] /" "$log/out"
    if [ "$rc" = 0 ]; then
      echo "stress [$version] $name: passed ($((SECONDS - t0)) s)"
      passed=$((passed + 1))
    else
      case "$rc" in 124|137) why="timed out after $timeout_s s" ;; *) why="exit $rc" ;; esac
      echo "stress [$version] $name: FAILED ($why, $((SECONDS - t0)) s); its stderr, last lines:"
      tail -n 60 "$log/err" | sed 's/^/    /'
      failed=$((failed + 1)); status=1
    fi
  done
done
echo "=== stress: $passed passed, $failed failed (${#scripts[@]} scripts x Python ${pythons[*]}, $((SECONDS - started)) s)"
exit $status
