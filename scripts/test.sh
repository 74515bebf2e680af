#!/usr/bin/env bash
# Set up one virtualenv per Python found (3.9 to 3.15) and run the test suite on each, once per
# collector that Python has. Prints which Pythons and collectors ran and how long each took, and
# fails if any run failed. Python 3.14 and 3.15 come from ../shared/tools/python3.X.sh when they
# are not on the machine (Debian's builds, unpacked under .python3.X/).
#   bash scripts/test.sh [extra pytest args]
#   TEST_PYTHONS="3.11 3.12" bash scripts/test.sh      # fewer Pythons
#   TEST_JOBS=2 TEST_WORKERS=2 bash scripts/test.sh    # runs at once (default 2, 3 when short), xdist workers per run
#   TEST_SETUP_ONLY=1 bash scripts/test.sh             # only build the environments
#   TEST_FULL_PYTHONS="3.12" bash scripts/test.sh      # Pythons run whole besides the oldest and newest
#
# Environments are built with uv (`uv venv -p EXE DIR`, `uv pip install -e ".[test]"`): one
# resolver, one shared wheel cache, no pip inside the venvs, seconds per Python once the cache is
# warm (pip took minutes for the seven). Plain uv rather than nox/tox: nothing more to install or
# configure, and the runs below need their own scheduling anyway. When uv is not on PATH it is
# installed with `python3 -m pip install uv` (or into a private venv .venv-test/.uv when the
# system pip refuses); if that fails too, the environments are built with venv + pip, slower.
#
# Which tests each Python runs (by markers, so a new test falls in by its markers, never by file):
#   - not marked collector_independent (the collectors, the tracer's life in the interpreter: hooks,
#     threads, forks, exit, lazy imports), or marked every_python (collector-independent but tied
#     to the interpreter's version: signals, fork warnings): EVERY Python, once per collector;
#   - collector_independent (the servers and supervisors, the exports, the CLI, configuration):
#     the OLDEST and the NEWEST Python only ("full" Pythons), in their auto run. The oldest's auto
#     collector is importhook, the newest's monitoring: every server meets both defaults; what a
#     Python version changes under a server (signals, asyncio, multiprocessing, warnings) is
#     added or removed between the two ends, so one of them sees it (what only a middle version
#     does gets every_python);
#   - python_independent (the reading side: audit, diff, report, page, fuzzed readers): the
#     NEWEST Python whole, in its auto run; the OLDEST its tests not marked slow (the readers,
#     renderers and CLI on hand-built inputs, the fuzzed readers with fewer examples), where
#     what 3.9's standard library lacks would show. The slow ones generate real traced runs
#     (servers, fifteen changed-app runs) only to read them back: the writing side of those runs
#     is tested on every Python by the collector tests, the reading of them is the same code as
#     the fast tests run. Every module of the package is imported on every Python
#     (tests/test_every_python.py) for syntax and APIs. No collector rerun runs them: what they
#     read does not depend on which collector wrote it;
#   - once (files, pins, the browser): the first Python (python3) only.
# Measured on 3.11 (per-test CPU, the sum of a run's tests): 33 CPU-s of the first kind, 75 of
# collector_independent, 51 of python_independent; the runs of the middle Pythons went from
# about 125 CPU-s to about 50 each (docs/development.md has the figures).
# The runs (one per Python and collector) go TEST_JOBS at a time (2, and a third when it is a short
# run), longest first, each with
# TEST_WORKERS xdist workers (3; 2 for the short runs of the middle Pythons and the collector
# reruns, a third worker collecting the suite costs more there than it saves): much of a run's time is spent waiting on the processes the
# tests start (servers coming up, exports, stops), so two runs side by side keep two cores busy
# where one run alone left them idle between its slow tests. --dist loadgroup keeps a module
# whose tests share a module-scoped fixture (real traced runs) on one worker (tests/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.."

JOBS="${TEST_JOBS:-2}"
SHORT_JOBS="${TEST_JOBS:-3}"  # runs at once while the next to start is a short one (below)
WORKERS="${TEST_WORKERS:-3}"
SHORT_WORKERS="${TEST_WORKERS:-2}"

# Which collectors each Python runs the whole suite with ("auto" is the default one).
collectors_for() {
  case "$1" in
    3.11) echo "auto settrace" ;;                 # auto = importhook
    3.12|3.15) echo "auto importhook" ;;          # auto = monitoring
    *) echo "auto" ;;                             # 3.9, 3.10: importhook; 3.13, 3.14: monitoring
  esac
}

# python3 (the machine's default), then every pyenv-installed 3.9+ interpreter, once per minor version.
declare -A seen=()
pythons=()
add_python() {
  local exe="$1" version
  [ -x "$exe" ] || return 0
  version=$("$exe" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 0
  case "$version" in 3.9|3.1[0-9]) ;; *) return 0 ;; esac
  [ -n "${seen[$version]:-}" ] && return 0
  seen[$version]=1
  pythons+=("$version:$exe")
}
add_python "$(command -v python3 || true)"
if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(9|1[0-9])\.[0-9]+$' | sort -t. -k2,2n -k3,3n); do
    add_python "$(pyenv prefix "$version" 2>/dev/null)/bin/python"
  done
fi
for version in 3.14 3.15; do
  add_python "$(command -v "python$version" || true)"
  shared="../shared/tools/python$version.sh"
  if [ -z "${seen[$version]:-}" ] && [ -f "$shared" ]; then
    if exe=$(bash "$shared" "$PWD/.python$version" 2>".python$version.log"); then
      echo "=== Python $version from $shared: $exe"
      add_python "$exe"
    else
      echo "=== Python $version: $shared could not provide it (see .python$version.log); not run"
    fi
  fi
done
if [ -n "${TEST_PYTHONS:-}" ]; then
  kept=()
  for entry in "${pythons[@]}"; do
    case " $TEST_PYTHONS " in *" ${entry%%:*} "*) kept+=("$entry") ;; esac
  done
  pythons=("${kept[@]}")
fi
if [ ${#pythons[@]} -eq 0 ]; then
  echo "no Python 3.9+ interpreter found"; exit 1
fi

mkdir -p .venv-test
started=$SECONDS

# uv: on PATH, else installed for python3 (python3 -m uv), else in a private venv; else none.
uv=()
if command -v uv >/dev/null 2>&1; then
  uv=(uv)
elif python3 -m uv --version >/dev/null 2>&1; then
  uv=(python3 -m uv)
else
  echo "=== uv not found: installing it (python3 -m pip install uv)"
  if python3 -m pip install -q --disable-pip-version-check uv >.venv-test/uv-install.log 2>&1 \
      && python3 -m uv --version >/dev/null 2>&1; then
    uv=(python3 -m uv)
  elif { [ -x .venv-test/.uv/bin/uv ] || { python3 -m venv .venv-test/.uv \
      && .venv-test/.uv/bin/python -m pip install -q --disable-pip-version-check uv; }; } >>.venv-test/uv-install.log 2>&1; then
    uv=(.venv-test/.uv/bin/uv)
  else
    echo "=== could not install uv (see .venv-test/uv-install.log): building the environments with venv + pip"
  fi
fi

setup_venv() {  # version exe -> 0 if ready; the log is kept in .venv-test/<version>.log
  local version="$1" exe="$2" venv=".venv-test/$1" log=".venv-test/$1.log"
  local same='import sys; print(sys.base_prefix, sys.version)'
  : >"$log"
  if [ ${#uv[@]} -gt 0 ]; then
    # A venv left by an older pip-based run (or another interpreter) is replaced, not mixed.
    # The editable install is redone only when pyproject.toml changed since (a stamp beside the
    # venv): uv rebuilds the editable wheel on every call, seconds per Python on a loaded machine.
    local stamp="$venv/.installed-from" wanted
    wanted=$(cksum <pyproject.toml)
    if [ -x "$venv/bin/python" ] && [ ! -e "$venv/bin/pip" ] \
        && [ "$("$venv/bin/python" -c "$same" 2>/dev/null)" = "$("$exe" -c "$same")" ]; then
      if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then return 0; fi
    else
      "${uv[@]}" venv -q --clear -p "$exe" "$venv" >>"$log" 2>&1
    fi && "${uv[@]}" pip install -q --python "$venv/bin/python" -e ".[test]" >>"$log" 2>&1 \
      && echo "$wanted" >"$stamp" && return 0
    echo "=== uv could not set up .venv-test/$version (see $log); trying venv + pip"
    rm -rf "$venv"
  fi
  { [ -x "$venv/bin/python" ] || "$exe" -m venv "$venv"; } >>"$log" 2>&1 || return 1
  "$venv/bin/python" -m pip install -q --no-compile --disable-pip-version-check -e ".[test]" >>"$log" 2>&1
}

summary=()
status=0
runs=()
for entry in "${pythons[@]}"; do
  version="${entry%%:*}"
  echo "=== Python $version (${entry#*:}): setting up .venv-test/$version${uv:+ with ${uv[*]}}"
  if ! setup_venv "$version" "${entry#*:}"; then
    tail -n 30 ".venv-test/$version.log"
    summary+=("Python $version: environment setup failed (see .venv-test/$version.log)"); status=1; continue
  fi
  for collector in $(collectors_for "$version"); do runs+=("$version:$collector"); done
done
# The "full" Pythons (the oldest, the newest, and TEST_FULL_PYTHONS) run the collector_independent
# and python_independent tests too; the others what the interpreter changes (the rule above).
first_version="${runs[0]:-}"; first_version="${first_version%%:*}"  # the first Python ready also runs the "once" tests
oldest=$(printf '%s\n' "${runs[@]%%:*}" | sort -t. -k2,2n | head -n 1)
newest=$(printf '%s\n' "${runs[@]%%:*}" | sort -t. -k2,2n | tail -n 1)
full=" $oldest $newest ${TEST_FULL_PYTHONS:-} "
# Longest runs first, so that the last ones to start are short and the two slots end together:
# by the time each run took last time (.venv-test/logs/*.seconds), else by what the runs hold (the
# auto runs of the full Pythons, then the other auto runs and the collector reruns).
estimate() {  # version collector -> seconds
  local seconds
  if [ -f ".venv-test/logs/$1-$2.seconds" ] && read -r seconds <".venv-test/logs/$1-$2.seconds" && [ "$seconds" -gt 0 ] 2>/dev/null; then
    echo "$seconds"
  elif [ "$2" != auto ]; then echo 50
  else case "$full" in *" $1 "*) echo 200 ;; *) echo 60 ;; esac
  fi
}
ordered=()
while read -r _ run; do ordered+=("$run"); done < <(
  for run in "${runs[@]}"; do echo "$(estimate "${run%%:*}" "${run#*:}") $run"; done | sort -s -k1,1nr)
runs=("${ordered[@]}")
echo "=== environments ready in $((SECONDS - started)) s; ${#runs[@]} runs, $JOBS at a time ($SHORT_JOBS when short), -n $WORKERS for the full Pythons' auto runs, -n $SHORT_WORKERS for the others; full Pythons:$full"
if [ -n "${TEST_SETUP_ONLY:-}" ]; then [ ${#summary[@]} -eq 0 ] || printf '%s\n' "${summary[@]}"; exit $status; fi
if [ ${#runs[@]} -eq 0 ]; then printf '%s\n' "${summary[@]}"; exit 1; fi

# One run: its output goes to a log, printed whole when it ends so runs side by side stay readable.
mkdir -p .venv-test/logs
run_suite() {  # version collector
  local version="$1" collector="$2" log=".venv-test/logs/$1-$2.log" t0=$SECONDS rc cpu workers="$WORKERS"
  # The rule at the top: collector reruns skip the collector_independent and python_independent
  # tests; the Pythons that are not full skip those (but for every_python); the full Pythons but
  # the newest skip the slow python_independent ones (real runs read back); every Python but the
  # first skips the "once" ones.
  local skip=() only=()
  [ "$collector" = auto ] || skip+=("not collector_independent" "not python_independent")
  [ "$version" = "$first_version" ] || skip+=("not once")
  case "$full" in
    *" $version "*) [ "$version" = "$newest" ] || skip+=("(not python_independent or not slow)") ;;
    *) skip+=("not python_independent" "(not collector_independent or every_python)") ;;
  esac
  case "$collector:$full" in auto:*" $version "*) ;; *) workers="$SHORT_WORKERS" ;; esac
  if [ ${#skip[@]} -gt 0 ]; then only=(-m "$(printf '%s and ' "${skip[@]}" | sed 's/ and $//')"); fi
  # Property-based tests (python_independent): 120 examples each on the newest Python, 30 on the
  # other full ones (tests/conftest.py).
  local profile=other-python
  [ "$version" = "$newest" ] && profile=ci
  # CPU seconds (user + sys of the run and every process it waited for): what a run costs
  # whatever else the machine is doing, where its wall time depends on the load.
  local TIMEFORMAT='%U %S'
  { time HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-$profile}" IMPORT_TRACING_TEST_COLLECTOR="$collector" \
    timeout -k 30 1800 ".venv-test/$version/bin/python" \
    -m pytest -q -n "$workers" --dist loadgroup -p no:cacheprovider "${only[@]}" "${@:3}" >"$log" 2>&1 ; } 2>".venv-test/logs/$version-$collector.cpu"
  rc=$?
  cpu=$(awk '{ printf "%d", $1 + $2 }' ".venv-test/logs/$version-$collector.cpu" 2>/dev/null)
  echo "$rc $((SECONDS - t0)) ${cpu:-?}" >".venv-test/logs/$version-$collector.rc"
  # A whole run that passed: its time orders the next runs (a run of a few tests would not).
  if [ "$rc" = 0 ] && [ $# -le 2 ]; then echo "$((SECONDS - t0))" >".venv-test/logs/$version-$collector.seconds"; fi
  { echo "=== Python $version, collector $collector ($((SECONDS - t0)) s, CPU ${cpu:-?} s, exit $rc)"; cat "$log"; }
}
# A short run (every run but the full Pythons' auto runs) may start as a third beside two: a short
# run keeps about 0.7 of a core busy (it waits on the processes its tests start), a full one 0.85,
# so two slots left most of a core idle through the eight short runs (CI 2026-12-08: short runs
# 596 s of wall for 435 CPU-s, two at a time).
running=0
for run in "${runs[@]}"; do
  limit="$JOBS"
  case "${run#*:}:$full" in auto:*" ${run%%:*} "*) ;; *) limit="$SHORT_JOBS" ;; esac
  while [ "$running" -ge "$limit" ]; do wait -n; running=$((running - 1)); done
  rm -f ".venv-test/logs/${run%%:*}-${run#*:}.rc"
  run_suite "${run%%:*}" "${run#*:}" "$@" &
  running=$((running + 1))
done
wait

cpu_total=0
for run in "${runs[@]}"; do
  version="${run%%:*}" collector="${run#*:}"
  read -r rc seconds cpu <".venv-test/logs/$version-$collector.rc" 2>/dev/null || { rc=1; seconds="?"; cpu="?"; }
  case "$cpu" in ''|*[!0-9]*) ;; *) cpu_total=$((cpu_total + cpu)) ;; esac
  if [ "$rc" = 0 ]; then
    summary+=("Python $version, collector $collector: passed ($seconds s, CPU ${cpu:-?} s)")
  else
    summary+=("Python $version, collector $collector: FAILED ($seconds s, CPU ${cpu:-?} s, exit $rc; log .venv-test/logs/$version-$collector.log)"); status=1
  fi
done

echo
echo "=== Test runs ($((SECONDS - started)) s in all, CPU $cpu_total s; full Pythons:$full)"
printf '%s\n' "${summary[@]}"
exit $status
