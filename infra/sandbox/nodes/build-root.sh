#!/usr/bin/env bash
# Builds (once) a Debian root with the packages the AMI installs (infra/node/packages.txt), which brings
# RabbitMQ from Debian's archive: trixie (13) has 4.0, forky (14, testing) has 4.3. The sandbox's and the
# tests' nodes of those lines run from it with chroot. Reused while its marker file exists and it was built
# from the same package list (recorded beside the marker): a root of another list is built again, and the
# old one is removed once no process runs in it any more. Concurrent builders wait on one lock.
# usage: build-root.sh DIR [SUITE]   (SUITE: trixie, the default, or forky; prints the RabbitMQ version of the root)
set -euo pipefail
dir="$1"
suite="${2:-trixie}"
case "$suite" in
  trixie) script="" ;;
  # Debian 12's debootstrap has no script for forky: sid's bootstraps it
  forky) script=/usr/share/debootstrap/scripts/sid ;;
  *) echo "build-root.sh: no root for Debian suite '$suite' (trixie or forky)" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
packages="$(grep -v '^#' "$here/../../node/packages.txt" | paste -sd, -)"
mirror="${WARREN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
marker="$dir/.warren-root"
built_with="$dir/.warren-packages"

# whether a process runs chrooted in the root $1 (its root directory is that one, whatever the mounts)
in_use() {
  local id root
  id="$(stat -c %d:%i "$1")"
  for root in /proc/[0-9]*/root; do
    [ "$(stat -L -c %d:%i "$root" 2>/dev/null)" = "$id" ] && return 0
  done
  return 1
}

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9
if [ ! -f "$marker" ] || [ "$(cat "$built_with" 2>/dev/null)" != "$packages" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (Debian package debootstrap; npm test installs it)" >&2; exit 1; }
  tmp="$dir.building.$$"
  rm -rf "$tmp"
  # a root without its marker is a half-built one; a complete one of another list serves until its successor is built
  if [ -f "$marker" ]; then
    echo "the root in $dir was built from other packages than $packages ($(cat "$built_with" 2>/dev/null || echo 'not recorded')): building it again" >&2
  else
    rm -rf "$dir"
  fi
  log="$dir.build.log"
  echo "building the RabbitMQ root (debootstrap $suite, $packages from $mirror) in $dir ..." >&2
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" ${script:+"$script"} >"$log" 2>&1; then
    rm -rf "$tmp"
    echo "debootstrap of $suite from $mirror failed (is Debian's archive reachable?); last lines of $log:" >&2
    tail -n 15 "$log" >&2
    exit 1
  fi
  [ -x "$tmp/usr/lib/rabbitmq/bin/rabbitmq-server" ] || { echo "the $suite root has no rabbitmq-server" >&2; exit 1; }
  # a minbase root of forky has no /etc/hosts, over which in-root.sh binds the namespace's own
  [ -e "$tmp/etc/hosts" ] || printf '127.0.0.1 localhost\n' >"$tmp/etc/hosts"
  # shellcheck disable=SC2016 # ${Version} is dpkg-query's format, not the shell's
  chroot "$tmp" dpkg-query -W -f='${Version}' rabbitmq-server >"$tmp/.warren-root"
  printf '%s' "$packages" >"$tmp/.warren-packages"
  # nodes still running from the old root keep it until they end (an earlier build's leftover is swept below)
  if [ -d "$dir" ]; then mv "$dir" "$dir.old.$$"; fi
  mv "$tmp" "$dir"
fi
for old in "$dir".old.*; do
  if [ -d "$old" ] && ! in_use "$old"; then rm -rf "$old"; fi
done
cat "$marker"
