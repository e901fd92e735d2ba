#!/usr/bin/env bash
# Make sure gVisor's `runsc` is installed; install Debian's `runsc` package when it is missing.
# Prints the path of runsc on its last line. Exits non-zero, saying why, when it cannot.
set -euo pipefail

if path=$(command -v runsc); then
    echo "$path"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "runsc is not installed and this script is not running as root: install it with" >&2
    echo "  sudo apt-get install -y runsc" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null; then
    echo "runsc is not installed and there is no apt-get here: see https://gvisor.dev/docs/user_guide/install/" >&2
    exit 1
fi
echo ">> installing runsc from Debian's packages" >&2
if ! apt-get install -y -q runsc >&2; then
    apt-get update -q >&2 || { echo "apt-get update failed: no package index reachable" >&2; exit 1; }
    apt-get install -y -q runsc >&2 || { echo "apt-get install runsc failed (is the package in this release?)" >&2; exit 1; }
fi
command -v runsc || { echo "runsc installed but not on PATH" >&2; exit 1; }
