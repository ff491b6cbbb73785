#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
# names go into Erlang as base64 (its alphabet cannot end a binary literal): never as code
b64() { printf %s "$1" | base64 -w0; }

counted_running() { jq -e --arg n "$SSM_NodeName" '.running_nodes | index([$n])' <<<"$status" >/dev/null; }

app_running || fail "this peer ($self) is not running, so it cannot forget $SSM_NodeName"
disconnected=false
# The instance is terminated: a node that does not answer is dead, but the members' links count it
# as running until net_ticktime expires, and until then cluster_status waits on it. Disconnected
# first, it is down for every member at once. A node that answers (a new instance that got the
# same private IP, and so the same name) is never disconnected: the check below refuses it.
if [ "$SSM_Departed" = "true" ] && ! rabbitmq-diagnostics --node "$SSM_NodeName" -q ping --timeout 3 >/dev/null 2>&1; then
  out="$(ctl eval "rpc:multicall([node() | nodes()] -- ['$SSM_NodeName'], erlang, disconnect_node, ['$SSM_NodeName'], 5000).")"
  grep -q "true" <<<"$out" && disconnected=true
fi
status="$(ctl --formatter json cluster_status)"
# Invariant 1: an unreachable node is not a dead node; a running one is never forgotten: a refusal,
# answered like the other results (still-running), not an error.
if counted_running; then
  result=still-running
# Khepri (khepri_db enabled) changes its membership only with a majority of its members running:
# a forget now cannot complete, so it is held, not tried (reconcile reports the lost majority).
elif khepri_minority <<<"$status"; then
  result=majority-lost
elif jq -e --arg n "$SSM_NodeName" '(.disk_nodes + .ram_nodes) | index([$n])' <<<"$status" >/dev/null; then
  ctl forget_cluster_node "$SSM_NodeName" >/dev/null
  result="forgotten"
else
  result="absent"
fi
# Quorum queues and streams that still list the node as a replica (a forget that left them, or a
# node already gone from the cluster) lose it: a replica outside the cluster only counts against the majority.
removed=0
[ "$result" = majority-lost ] || [ "$result" = still-running ] || while IFS=$'\t' read -r type vhost queue; do
  if [ "$type" = quorum ]; then
    rabbitmq-queues --node "$self" -q delete_member -p "$vhost" "$queue" "$SSM_NodeName" </dev/null >/dev/null
  else
    # the stream coordinator itself: rabbitmq-streams delete_replica refuses a node that does not run (3.10)
    out="$(ctl eval "{ok, Q} = rabbit_amqqueue:lookup(rabbit_misc:r(base64:decode(<<\"$(b64 "$vhost")\">>), queue, base64:decode(<<\"$(b64 "$queue")\">>))), rabbit_stream_coordinator:delete_replica(maps:get(name, amqqueue:get_type_state(Q)), '$SSM_NodeName')." </dev/null)"
    grep -q '^{ok,ok' <<<"$out" || fail "stream $queue kept $SSM_NodeName: $out"
  fi
  removed=$((removed + 1))
done < <(ctl --formatter json list_vhosts name | jq -r '.[].name' | while IFS= read -r vhost; do
    ctl --formatter json list_queues -p "$vhost" name type members </dev/null \
      | jq -r --arg n "$SSM_NodeName" --arg vhost "$vhost" '.[] | select((.type == "quorum" or .type == "stream") and (.members | index([$n]))) | [.type, $vhost, .name] | @tsv' || exit 1
  done)
jq -cn --arg peer "$self" --arg node "$SSM_NodeName" --arg result "$result" --argjson disconnected "$disconnected" --argjson removed "$removed" \
  '{peer: $peer, node: $node, result: $result, disconnected: $disconnected, replicasRemoved: $removed}'
