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
for entry in "${pythons[@]}"; do
  version="${entry%%:*}"
  exe="${entry#*:}"
  venv=".venv-test/$version"
  echo "=== Python $version ($exe): setting up $venv"
  if [ ! -x "$venv/bin/python" ]; then
    "$exe" -m venv "$venv" || { summary+=("Python $version: venv failed"); status=1; continue; }
  fi
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]" >"$venv/install.log" 2>&1; then
    tail -n 30 "$venv/install.log"
    summary+=("Python $version: install failed (see $venv/install.log)"); status=1; continue
  fi
  for collector in $(collectors_for "$version"); do
    echo "=== Python $version, collector $collector"
    # Tests that do not depend on the collector run once per Python, in the auto run.
    only=()
    [ "$collector" = auto ] || only=(-m "not collector_independent")
    if IMPORT_TRACING_TEST_COLLECTOR="$collector" "$venv/bin/python" -m pytest -q -n 3 -p no:cacheprovider "${only[@]}" "$@"; then
      summary+=("Python $version, collector $collector: passed")
    else
      summary+=("Python $version, collector $collector: FAILED"); status=1
    fi
  done
done

echo
echo "=== Test runs"
if [ ${#summary[@]} -eq 0 ]; then
  echo "no Python 3.9+ interpreter found"; exit 1
fi
printf '%s\n' "${summary[@]}"
exit $status
