# The opening every SSM document's script shares. The build (infra/deploy/ssm-documents.ts) puts it
# right after each script's shebang, behind one line of its own: doc=<Document> params="<its parameters>".
# The documents template holds it once (Mappings), so the nine documents fit in a direct upload.
# Comment-only lines and indentation are left out of what deploys, as in the documents.
[ -n "${BASH_VERSION:-}" ] || exec /bin/bash "$0" "$@"
set -euo pipefail
# An SSM agent before 3.3.2746.0 exports no SSM_ variable (no ENV_VAR interpolation): say so, touch nothing.
# shellcheck disable=SC2154 # doc and params: the line the build writes right before this opening
for p in $params; do [ -v "SSM_$p" ] || { echo "$doc: SSM_$p is not set: ENV_VAR parameters need SSM agent 3.3.2746.0 or later" >&2; exit 1; }; done
export PATH="$PATH:/usr/sbin:/usr/local/sbin"
self="${RABBITMQ_NODENAME:-rabbit@$(hostname -s)}"
# Every start of the RabbitMQ CLI is an Erlang VM (about a second of CPU): the scripts start as few as they can.
ctl() { rabbitmqctl --node "$self" -q "$@"; }
app_running() { rabbitmq-diagnostics --node "$self" -q check_running >/dev/null 2>&1; }
fail() { echo "$doc: $*" >&2; exit 1; }
# The installed server's version: its directory names it, no CLI start needed; the CLI tells otherwise.
installed_version() {
  local v
  v="$(find /usr/lib/rabbitmq/lib -maxdepth 1 -name 'rabbitmq_server-*' -printf '%f\n' 2>/dev/null | sed -n 's/^rabbitmq_server-//p' | sort -V | tail -n 1)"
  [ -n "$v" ] || v="$(rabbitmqctl version 2>/dev/null)"
  [ -n "$v" ] && echo "$v"
}
# cluster_status JSON on stdin: Khepri (khepri_db enabled) with no more than half of its members running,
# which changes its membership for nobody (forget, join) until the cluster is recovered.
khepri_minority() { jq -e 'any((.feature_flags // [])[]; .name == "khepri_db" and .state == "enabled") and (.running_nodes | length) <= ((.disk_nodes + .ram_nodes) | length) / 2' >/dev/null; }
