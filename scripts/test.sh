#!/usr/bin/env bash
# Set up one virtualenv per Python found (3.9 to 3.14) and run the test suite on each,
# once per collector that Python has. Prints which Pythons and collectors ran, and fails
# if any run failed. Python 3.14 comes from ../shared/tools/python3.14.sh when it is there
# (Debian's build, unpacked under .python3.14/). Usage: bash scripts/test.sh [extra pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."

# Which collectors each Python runs the whole suite with ("auto" is the default one).
collectors_for() {
  case "$1" in
    3.11) echo "auto settrace" ;;                 # auto = importhook
    3.12) echo "auto importhook" ;;               # auto = monitoring
    *) echo "auto" ;;                             # 3.9, 3.10: importhook; 3.13+: monitoring
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
shared_314="../shared/tools/python3.14.sh"
if [ -z "${seen[3.14]:-}" ] && [ -f "$shared_314" ]; then
  if exe=$(bash "$shared_314" "$PWD/.python3.14" 2>.python3.14.log); then
    echo "=== Python 3.14 from $shared_314: $exe"
    add_python "$exe"
  else
    echo "=== Python 3.14: $shared_314 could not provide it (see .python3.14.log); not run"
  fi
fi
if [ -n "${TEST_PYTHONS:-}" ]; then  # e.g. TEST_PYTHONS="3.11 3.12" to run fewer
  kept=()
  for entry in "${pythons[@]}"; do
    case " $TEST_PYTHONS " in *" ${entry%%:*} "*) kept+=("$entry") ;; esac
  done
  pythons=("${kept[@]}")
fi

summary=()
status=0

# Set up every virtualenv first, three at a time: resolving against the package indexes is
# most of an install's time, and installs overlap well.
setup_venv() {  # version exe -> 0 if ready; the log is kept in the venv
  local version="$1" exe="$2" venv=".venv-test/$1"
  if [ ! -x "$venv/bin/python" ]; then
    "$exe" -m venv "$venv" >/dev/null 2>&1 || { echo "venv failed" >".venv-test/$version.failed"; return 1; }
  fi
  "$venv/bin/python" -m pip install -q --no-compile --disable-pip-version-check -e ".[test]" >"$venv/install.log" 2>&1 \
    || { echo "install failed (see $venv/install.log)" >".venv-test/$version.failed"; return 1; }
}
mkdir -p .venv-test
running=0
for entry in "${pythons[@]}"; do
  version="${entry%%:*}"
  rm -f ".venv-test/$version.failed"
  echo "=== Python $version (${entry#*:}): setting up .venv-test/$version"
  setup_venv "$version" "${entry#*:}" &
  running=$((running + 1))
  if [ "$running" -ge 3 ]; then wait -n; running=$((running - 1)); fi
done
wait

first=1
for entry in "${pythons[@]}"; do
  version="${entry%%:*}"
  venv=".venv-test/$version"
  if [ -f ".venv-test/$version.failed" ]; then
    [ -f "$venv/install.log" ] && tail -n 30 "$venv/install.log"
    summary+=("Python $version: $(cat ".venv-test/$version.failed")"); status=1; continue
  fi
  for collector in $(collectors_for "$version"); do
    echo "=== Python $version, collector $collector"
    # Tests that do not depend on the collector run once per Python, in the auto run; tests
    # that depend on neither (the benchmark harness) run on the first Python only.
    skip=()
    [ "$collector" = auto ] || skip+=("not collector_independent")
    [ "$first" = 1 ] || skip+=("not once")
    only=()
    if [ ${#skip[@]} -gt 0 ]; then only=(-m "$(printf '%s and ' "${skip[@]}" | sed 's/ and $//')"); fi
    if IMPORT_TRACING_TEST_COLLECTOR="$collector" "$venv/bin/python" -m pytest -q -n 3 -p no:cacheprovider "${only[@]}" "$@"; then
      summary+=("Python $version, collector $collector: passed")
    else
      summary+=("Python $version, collector $collector: FAILED"); status=1
    fi
  done
  first=0
done

echo
echo "=== Test runs"
if [ ${#summary[@]} -eq 0 ]; then
  echo "no Python 3.9+ interpreter found"; exit 1
fi
printf '%s\n' "${summary[@]}"
exit $status
