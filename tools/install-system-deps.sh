#!/usr/bin/env bash
# Debian packages the test suite uses beyond Python, Node and Go: skopeo and podman
# check that the archives we write load. Installs only what is missing; needs root (as in CI).
set -euo pipefail
missing=()
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: not root; tests that need ${missing[*]} will say they were skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "install-system-deps: could not install ${missing[*]}; tests that need them will say they were skipped" >&2
fi
