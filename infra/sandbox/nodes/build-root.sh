#!/usr/bin/env bash
# Builds (once) a Debian 13 "trixie" root with the packages the AMI installs (infra/node/packages.txt),
# which brings RabbitMQ 4.x from Debian's archive: the 4.x nodes of the sandbox and the tests run from it
# with chroot. Reused while its marker file exists; concurrent builders wait on one lock.
# usage: build-root.sh DIR   (prints the RabbitMQ version of the root)
set -euo pipefail
dir="$1"
here="$(cd "$(dirname "$0")" && pwd)"
packages="$(grep -v '^#' "$here/../../node/packages.txt" | paste -sd, -)"
mirror="${WARREN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
marker="$dir/.warren-root"

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ ! -f "$marker" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (Debian package debootstrap; npm test installs it)" >&2; exit 1; }
  tmp="$dir.building.$$"
  rm -rf "$tmp" "$dir"
  log="$(dirname "$dir")/build-root.log"
  echo "building the RabbitMQ 4.x root (debootstrap trixie, $packages from $mirror) in $dir ..." >&2
  if ! debootstrap --variant=minbase --include="$packages" trixie "$tmp" "$mirror" >"$log" 2>&1; then
    rm -rf "$tmp"
    echo "debootstrap of trixie from $mirror failed (is Debian's archive reachable?); last lines of $log:" >&2
    tail -n 15 "$log" >&2
    exit 1
  fi
  [ -x "$tmp/usr/lib/rabbitmq/bin/rabbitmq-server" ] || { echo "the trixie root has no rabbitmq-server" >&2; exit 1; }
  chroot "$tmp" dpkg-query -W -f='${Version}' rabbitmq-server >"$tmp/.warren-root"
  mv "$tmp" "$dir"
fi
cat "$marker"
