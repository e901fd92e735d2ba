#!/usr/bin/env bash
# Make sure a headless Chromium is installed, for the report's browser test
# (tests/integration/test_report_browser.py). Idempotent; installs Debian's `chromium` package when
# /usr/bin/chromium (or $AZR_CHROMIUM) is missing. Run as root or through sudo.
set -euo pipefail
browser=${AZR_CHROMIUM:-/usr/bin/chromium}
if [[ -x $browser ]]; then
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "ensure-chromium: needs root (or sudo) to install chromium" >&2; exit 1; }
    SUDO="sudo"
fi
echo "ensure-chromium: installing Debian's chromium (once)" >&2
# The lock: other worktrees' test runs may install at the same time.
$SUDO flock /var/lib/dpkg/azr-ensure.lock bash -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null'
[[ -x $browser ]] || { echo "ensure-chromium: $browser is still missing" >&2; exit 1; }
