#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
refuse() {
  jq -cn --arg node "$self" --arg reason "$1" --arg detail "${2:0:500}" '{node: $node, left: false, reason: $reason, detail: $detail}'
  exit 0
}

if ! app_running; then
  jq -cn --arg node "$self" '{node: $node, left: true, drained: false, quorumShrunk: 0, alreadyStopped: true}'
  exit 0
fi

running="$(ctl --formatter json cluster_status | jq -c '.running_nodes')"
if [ "$(jq 'length' <<<"$running")" -le 1 ]; then
  refuse last-running-member "$self is the only running member: $running"
fi
# The checks exit non-zero both when critical and when they fail to run; only "critical" is a refusal.
if ! out="$(rabbitmq-queues --node "$self" -q check_if_node_is_quorum_critical 2>&1)"; then
  # 3.x says "...quorum queues...", 4.x "queue '<name>' ... will become unavailable if node <node> stops".
  grep -qiE 'quorum|will become unavailable' <<<"$out" || { echo "NodeLeave: quorum check failed: ${out:0:500}" >&2; exit 1; }
  refuse quorum-critical "$out"
fi
version="$(ctl --formatter json cluster_status | jq -r --arg n "$self" '.versions[$n].rabbitmq_version // "3"')"
# Classic mirroring (and its check) exists only before 4.0.
if [ "${version%%.*}" -lt 4 ] && ! out="$(rabbitmq-queues --node "$self" -q check_if_node_is_mirror_sync_critical 2>&1)"; then
  grep -qi 'mirror' <<<"$out" || { echo "NodeLeave: mirror-sync check failed: ${out:0:500}" >&2; exit 1; }
  refuse mirror-sync-critical "$out"
fi

# Shrink before the drain: on 4.3 a drained node's shrink answers {error,non_stable_members} for
# every queue and its replicas stay (measured on 4.3.6); shrinking first works on every version.
shrunk="$(rabbitmq-queues --node "$self" -q --formatter json shrink "$self" | jq '[.[] | select(.result == "ok")] | length')"
# Streams have no shrink: each stream with another replica loses this node's.
streams=0
while IFS=$'\t' read -r vhost queue; do
  rabbitmq-streams --node "$self" -q delete_replica -p "$vhost" "$queue" "$self" </dev/null >/dev/null
  streams=$((streams + 1))
done < <(ctl --formatter json list_vhosts name | jq -r '.[].name' | while IFS= read -r vhost; do
    ctl --formatter json list_queues -p "$vhost" name type members </dev/null \
      | jq -r --arg self "$self" --arg vhost "$vhost" '.[] | select(.type == "stream" and (.members | index([$self])) and (.members | length) > 1) | [$vhost, .name] | @tsv' || exit 1
  done)
drained=false
if [ "$SSM_Drain" = "true" ]; then
  rabbitmq-upgrade --node "$self" -q drain >/dev/null
  drained=true
fi
ctl stop_app >/dev/null
jq -cn --arg node "$self" --argjson drained "$drained" --argjson shrunk "$shrunk" --argjson streams "$streams" \
  '{node: $node, left: true, drained: $drained, quorumShrunk: $shrunk, streamsShrunk: $streams, alreadyStopped: false}'
