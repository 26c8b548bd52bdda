#!/usr/bin/env bash
# The Debian package `make bench` serves layers with (nginx, whose build has the WebDAV
# module for layer PUTs). Installs it only when missing; needs root. Without it the
# bench falls back to the emulator and says so in its report.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-nginx: not root; the bench will use the emulator for every case" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null
