#!/usr/bin/env bash
# scripts/ensure-apt.sh PKG...: make sure these Debian packages are installed.
#
# Installs only what dpkg says is missing (and runs `apt-get update` only
# then). As root it installs them; otherwise it prints the command to run and
# fails, so nobody is asked for a sudo password by a Makefile.
set -euo pipefail

missing=()
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $EUID -ne 0 ]]; then
    {
        echo "Missing Debian packages: ${missing[*]}"
        echo "Install them, then run make again:"
        echo
        echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        echo
    } >&2
    exit 1
fi

echo "Installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}" </dev/null
