#!/usr/bin/env bash
# System packages some tests use when present (they skip with a reason otherwise):
# chromium renders the HTML report; docker-compose validates docker-compose.otel.yml.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "=== installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq >/dev/null 2>&1 || true
  timeout 600 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || echo "could not install ${missing[*]}; the tests that need them will be skipped"
else
  echo "not root or no apt-get: ${missing[*]} not installed; the tests that need them will be skipped"
fi
exit 0
