#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
refuse() {
  jq -cn --arg node "$self" --arg reason "$1" --arg detail "$2" '{node: $node, recovered: false, reason: $reason, detail: $detail}'
  exit 0
}
# the quorum queues of every vhost, as this node lists them (bounded: a queue without a leader may not answer)
quorum_queues() {
  ctl --formatter json list_vhosts name | jq -r '.[].name' | while IFS= read -r vhost; do
    ctl --formatter json list_queues -p "$vhost" name type messages members --timeout 15 </dev/null | jq -c '.[] | select(.type == "quorum")' || exit 1
  done | jq -cs .
}

rabbitmq-diagnostics --node "$self" -q check_running >/dev/null 2>&1 || refuse app-not-running "the app does not run on $self"
cluster="$(ctl --formatter json cluster_status)"
jq -e 'any((.feature_flags // [])[]; .name == "khepri_db" and .state == "enabled")' >/dev/null <<<"$cluster" \
  || refuse not-khepri "$self keeps its metadata in Mnesia: nothing to recover"
members="$(jq -c '((.disk_nodes // []) + (.ram_nodes // [])) | unique' <<<"$cluster")"
running="$(jq -c '(.running_nodes // []) | unique' <<<"$cluster")"
drops="$(jq -cn --argjson m "$members" --argjson r "$running" '$m - $r')"
if jq -e --argjson m "$members" '2 * length > ($m | length)' >/dev/null <<<"$running"; then
  refuse majority-present "$(jq -r length <<<"$running") of $(jq -r length <<<"$members") members run: a majority"
fi
if [ "$SSM_DryRun" = true ]; then
  # from the metadata: a queue whose leader is lost does not answer list_queues (it is left out)
  count="$(ctl eval 'length([Q || Q <- rabbit_amqqueue:list(), amqqueue:get_type(Q) =:= rabbit_quorum_queue]).' 2>/dev/null)" || count=null
  jq -cn --arg node "$self" --argjson drops "$drops" --argjson members "$members" --argjson count "$count" '{
    node: $node, recovered: false, reason: "dry-run",
    detail: "would boot \($node) standalone, dropping \($drops | join(", ")), and shrink its \($count) quorum queues to it",
    drops: $drops, members: $members, quorumQueues: $count
  }'
  exit 0
fi

out="$(ctl force_standalone_khepri_boot 2>&1)" || fail "force_standalone_khepri_boot failed: ${out:0:500}"
# every quorum queue keeps only its replica here; RabbitMQ logs each shrink
out="$(ctl eval 'rabbit_quorum_queue:force_all_queues_shrink_member_to_current_member().' 2>&1)" || fail "shrinking the quorum queues failed: ${out:0:500}"
after="$(ctl --formatter json cluster_status)"
jq -e --arg self "$self" '((.disk_nodes // []) + (.ram_nodes // [])) == [$self]' >/dev/null <<<"$after" \
  || fail "$self is not standalone after the recovery: members $(jq -c '(.disk_nodes // []) + (.ram_nodes // [])' <<<"$after")"
queues="$(quorum_queues)" || queues=null
jq -cn --arg node "$self" --argjson drops "$drops" --argjson queues "$queues" '{
  node: $node, recovered: true, drops: $drops,
  quorumQueues: (if $queues == null then null else ($queues | length) end),
  messages: (if $queues == null then null else ([$queues[].messages // 0] | add // 0) end)
}'
