#!/usr/bin/env bash
# Build the documentation site (docs/*.md, mkdocs.yml) strictly: a broken link or anchor, or a
# page missing from the navigation, fails the build (exit non-zero). The `docs` extra (MkDocs and
# the Material theme) goes into .venv-docs, built with uv (seconds with a warm cache; installed
# with pip when missing), or venv + pip when uv cannot be had.
#   bash scripts/docs.sh            # build into site/
#   bash scripts/docs.sh serve      # serve at http://127.0.0.1:8000 while editing
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-docs
if [ ! -x "$venv/bin/mkdocs" ]; then
  if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install -q uv >/dev/null 2>&1 || true
  fi
  if command -v uv >/dev/null 2>&1; then
    uv venv -q -p python3 "$venv"
    VIRTUAL_ENV="$PWD/$venv" uv pip install -q ".[docs]"
  else
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ".[docs]"
  fi
fi
export NO_MKDOCS_2_WARNING=1  # Material's banner about MkDocs 2.0, not about this site
if [ "${1:-}" = "serve" ]; then
  exec "$venv/bin/mkdocs" serve --strict
fi
"$venv/bin/mkdocs" build --strict --clean --site-dir site
echo "docs: built site/ (mkdocs build --strict)"
