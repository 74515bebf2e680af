#!/usr/bin/env bash
# The README's test command, N times in a row (3), with two CPU-bound processes beside it (one per
# core of a 2-core machine): issue 27's "green three runs in a row with two CPU-bound jobs
# running beside it". Prints each run's verdict, time and CPU seconds; exits 1 unless all passed.
# Not run by scripts/stress.sh (which runs the *.py checks): it takes N times the suite, slowed
# by the load.
#   bash scripts/stress/suite_under_load.sh [N] [scripts/test.sh arguments]
#   TEST_PYTHONS="3.11 3.12" bash scripts/stress/suite_under_load.sh 3   # fewer Pythons per run
set -uo pipefail
cd "$(dirname "$0")/../.."

runs="${1:-3}"
[ $# -gt 0 ] && shift
burners=()
stop_burners() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${burners[@]}"; do wait "$pid" 2>/dev/null; done
  burners=()
}
trap stop_burners EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
  python3 -c 'while True: pass' &
  burners+=($!)
done
echo "=== $runs runs of scripts/test.sh beside 2 CPU-bound processes (pids ${burners[*]})"

status=0 results=() logs=$(mktemp -d "${TMPDIR:-/tmp}/suite-under-load.XXXXXX")
for run in $(seq 1 "$runs"); do
  started=$SECONDS
  bash scripts/test.sh "$@" >"$logs/run-$run.log" 2>&1
  rc=$?
  last=$(grep '^=== Test runs' "$logs/run-$run.log" | tail -n 1)
  if [ "$rc" = 0 ]; then
    results+=("run $run: passed in $((SECONDS - started)) s (${last#=== Test runs })")
  else
    status=1
    results+=("run $run: FAILED (exit $rc) in $((SECONDS - started)) s; log $logs/run-$run.log")
    grep -E 'FAILED' "$logs/run-$run.log" | head -n 20
  fi
  echo "${results[-1]}"
done
stop_burners
echo "=== suite under load: $([ $status = 0 ] && echo "all $runs runs passed" || echo "FAILED"); logs in $logs"
exit $status
