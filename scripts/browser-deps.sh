#!/usr/bin/env bash
# The real browser of the lab's browser test (Tests/DiTKitTests/LabTests.swift, python/lab_check.py): Debian's
# chromium and chromium-driver, and a CJK font so the page's Chinese shows in screenshots. Installs them with
# apt-get when run as root on Debian; elsewhere says what to install. Without them `make test` skips that one test
# (CI, which runs this first, does not). On Ubuntu the chromium package is a snap that a container or WSL2 cannot
# run: install Google Chrome or Chromium from another source with a matching chromedriver on PATH instead.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && grep -qi '^ID=debian' /etc/os-release 2>/dev/null; then
  echo "browser-deps: apt-get install ${missing[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "browser-deps: the lab's browser test needs ${missing[*]} (Debian: sudo apt-get install ${missing[*]}); it is skipped without them" >&2
fi
