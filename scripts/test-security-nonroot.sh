#!/usr/bin/env bash
# The security suite with the executor running as an unprivileged user (uid 10001, as
# deploy/k8s-nonroot runs it), the way CI runs it next to the root and gVisor runs. Needs root
# to drop to that user (setpriv) and Debian's python3.11 (the venv's interpreter may live in a
# closed home); the venv's site-packages are added to it, so nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
UID_NONROOT=${AZR_NONROOT_UID:-10001}
PYTHON=${AZR_NONROOT_PYTHON:-/usr/bin/python3.11}
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ "$(id -u)" != 0 ]; then echo "test-security-nonroot: run as root (it drops to uid $UID_NONROOT)" >&2; exit 2; fi
if [ ! -x "$PYTHON" ]; then echo "test-security-nonroot: $PYTHON is missing (apt-get install python3.11)" >&2; exit 2; fi
TMP=$(mktemp -d /tmp/azr-nonroot.XXXXXX)
chown "$UID_NONROOT:$UID_NONROOT" "$TMP"
trap 'rm -rf "$TMP"' EXIT
exec setpriv --reuid="$UID_NONROOT" --regid="$UID_NONROOT" --clear-groups \
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$TMP" TMPDIR="$TMP" LANG=C.UTF-8 \
  PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 AZR_SECURITY_MODE=nonroot \
  "$PYTHON" -c "import site, sys; site.addsitedir('$SITE'); import pytest; \
sys.exit(pytest.main(['-p', 'no:cacheprovider', '--rootdir', '$REPO', '$REPO/tests/security'] + sys.argv[1:]))" "$@"
