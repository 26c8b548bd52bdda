#!/usr/bin/env bash
# Debian packages the test suite drives besides Python, Node and Go. `make test` runs this
# first: it installs only what is missing (so it returns at once when everything is there),
# with apt-get, as root. Without root, or when apt-get fails, the tests that need a missing
# program skip themselves, except under CI=true, where they fail (and so does this script).
set -euo pipefail

# One "PROGRAM PACKAGE" per line: the program the tests look for, the package that has it.
TOOLS=(
  "skopeo skopeo"    # reads and copies the archives we write
  "podman podman"    # loads them
  "docker-registry docker-registry"  # a real v2 registry (distribution 2.8) for the OCI tests
  "nginx nginx"      # the classic auth_basic front of a v1 registry (tests/interop)
  "umoci umoci"      # unpacks the OCI image layouts we write
  "oci-image-tool oci-image-tool"  # validates them against the image spec
  "parallel parallel"  # GNU parallel: runs the sharded migration line of docs/migration.md
  "flock util-linux"   # keeps the crontab line of docs/migration.md from overlapping runs
)

# nginx lives in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for entry in "${TOOLS[@]}"; do
  read -r program package <<<"$entry"
  command -v "$program" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

say() { echo "install-system-deps: $*" >&2; }
give_up() {
  if [ "${CI:-}" = "true" ]; then
    say "$1; CI=true needs them all"
    exit 1
  fi
  say "$1; the tests that need them will say they were skipped"
  exit 0
}

[ "$(id -u)" -eq 0 ] || give_up "not root, so not installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || give_up "apt-get could not install ${missing[*]}"
