#!/usr/bin/env bash
# Installs everything ropegen needs to build and test from Debian 12's packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail
packages=(
  cmake make g++            # build
  libcli11-dev              # command-line parsing (ropegen CLI)
  doctest-dev               # test framework
  nlohmann-json3-dev        # --json output
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
