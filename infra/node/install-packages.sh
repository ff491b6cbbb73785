#!/usr/bin/env bash
# Installs the Debian packages the node scripts and the local nodes need (infra/node/packages.txt,
# plus iproute2 for network namespaces, debootstrap for the 4.x node roots, shellcheck for the suite's
# check of every script) when any is missing. Needs root for apt-get.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
missing=()
for pkg in $(grep -v "^#" "$here/packages.txt") iproute2 debootstrap shellcheck; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
# the AWS CLI drives the sandbox's local AWS endpoint in the tests; any aws on PATH will do
command -v aws >/dev/null 2>&1 || missing+=(awscli)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
# policy-rc.d keeps Debian from starting a system-wide RabbitMQ: warren's nodes are its own.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
