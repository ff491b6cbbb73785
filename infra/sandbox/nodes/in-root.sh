#!/usr/bin/env bash
# Runs a command as a RabbitMQ 4.x sandbox node sees the world: inside the node's network namespace,
# in a private mount namespace where the Debian 13 root gets /proc, /dev, the runs folder and the
# namespace's hosts file, chrooted into that root. The mounts vanish with the last process using them.
# usage: in-root.sh NAMESPACE ROOT RUNS_DIR COMMAND [ARG...]
set -euo pipefail
ns="$1" root="$2" runs="$3"
shift 3
# shellcheck disable=SC2016 # expanded by the inner shell
exec ip netns exec "$ns" unshare --mount --propagation private /bin/bash -c '
  set -euo pipefail
  root="$1" runs="$2"; shift 2
  mount -t proc proc "$root/proc"
  mount --bind /dev "$root/dev"
  mkdir -p "$root$runs"
  mount --bind "$runs" "$root$runs"
  # ip netns exec has bind-mounted /etc/netns/<ns>/hosts over /etc/hosts
  mount --bind /etc/hosts "$root/etc/hosts"
  exec chroot "$root" "$@"' in-root "$root" "$runs" "$@"
