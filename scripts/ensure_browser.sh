#!/usr/bin/env bash
# Make sure a Chromium exists for the browser tests (tests/e2e).
#
# Playwright's own browser download needs the internet, so the tests drive a
# system Chromium instead. Prints the browser's path when there is one; installs
# Debian's package when running as root with apt-get; otherwise says why not and
# exits 0 anyway: the browser tests then skip, or fail under REQUIRE_SERVICES=1.
set -euo pipefail

find_browser() {
  local name path
  for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if path="$(command -v "$name" 2>/dev/null)"; then
      echo "$path"
      return 0
    fi
  done
  return 1
}

if path="$(find_browser)"; then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "No Chromium found; installing Debian's chromium package..." >&2
  export DEBIAN_FRONTEND=noninteractive
  # Only what the browser needs: no recommended extras (they brought avahi and
  # upgraded systemd and udev on a developer's machine), no upgrade of what is there.
  apt-get update -qq && apt-get install -y -qq --no-install-recommends --no-upgrade chromium >&2
  if path="$(find_browser)"; then
    echo "$path"
    exit 0
  fi
  echo "apt-get finished but no chromium binary is on PATH; browser tests will skip." >&2
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  reason="not running as root, so cannot apt-get install chromium"
else
  reason="apt-get is not available on this system"
fi
echo "No Chromium found and ${reason}." >&2
echo "Install chromium (or google-chrome) yourself to run the browser tests;" >&2
echo "until then they skip (or fail when REQUIRE_SERVICES=1)." >&2
exit 0
