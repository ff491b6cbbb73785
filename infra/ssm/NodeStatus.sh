#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
cookie_file="${WARREN_ERLANG_COOKIE_FILE:-/var/lib/rabbitmq/.erlang.cookie}"

cookie_hash=""
if [ -r "$cookie_file" ]; then cookie_hash="$(sha256sum "$cookie_file" | cut -d' ' -f1)"; fi

# One CLI start gathers this node's own facts (each start of the CLI costs its own Erlang VM, about a
# second of CPU): whether the app runs, whether partition handling holds it paused, the policies of
# "/", the vhosts and "/"'s default queue type (none before 3.11), the Khepri leader this member
# knows (4.0 runs Khepri beside Mnesia: reported only where khepri_db is enabled) and the deprecated
# features in use (3.13 and later). It fails only when the
# node cannot be reached at all: not running, not paused. A running node that cannot answer is an error.
facts="$(timeout 30 rabbitmqctl --node "$self" -q eval '
  Running = rabbit:is_running(),
  Paused = (not Running) andalso whereis(rabbit_outside_app_process) =/= undefined,
  Facts = case Running of
    false -> #{};
    true ->
      try
        Type = try rabbit_vhost:default_queue_type(<<"/">>) of T when is_binary(T) -> T; _ -> <<>> catch _:_ -> <<>> end,
        Policies = [proplists:get_value(name, P) || P <- rabbit_policy:list(<<"/">>)],
        Leader = try ra_leaderboard:lookup_leader(rabbitmq_metadata) of {_, L} -> L; _ -> null catch _:_ -> null end,
        Deprecated = try maps:keys(rabbit_deprecated_features:list(used)) catch _:_ -> [] end,
        maps:from_list([{policies, Policies}, {vhosts, rabbit_vhost:list_names()}, {default_queue_type, Type},
                        {metadata_leader, Leader}, {deprecated_used, Deprecated}])
      catch Class:Reason -> #{error => iolist_to_binary(io_lib:format("~p:~p", [Class, Reason]))}
      end
  end,
  io:format("~s~n", [rabbit_json:encode(Facts#{running => Running, paused => Paused})]),
  ok.' 2>/dev/null | head -n 1)" || true
jq -e 'type == "object"' >/dev/null 2>&1 <<<"${facts:-null}" || facts='{"running":false,"paused":false}'
if jq -e 'has("error")' >/dev/null <<<"$facts"; then
  echo "NodeStatus: $self runs but cannot report its policies and vhosts: $(jq -r .error <<<"$facts")" >&2
  exit 1
fi
running="$(jq '.running' <<<"$facts")"
paused="$(jq '.paused' <<<"$facts")"
policies="$(jq -c '.policies // []' <<<"$facts")"
default_type="$(jq -r '.default_queue_type // ""' <<<"$facts")"
leader="$(jq -c '.metadata_leader // null' <<<"$facts")"
deprecated="$(jq -c '.deprecated_used // [] | sort' <<<"$facts")"
replicas=null
cluster='{}'
version=""
if [ "$running" = true ]; then
  cluster="$(ctl --formatter json cluster_status)"
  # Quorum queue and stream replicas are judged once per cluster, by its first running member: counts per node of
  # queues with no replica on a running member (missing), a replica there that does not run
  # (stopped), a replica on a node outside the cluster (departed); a queue without a running
  # leader or a running majority (leaderless) is counted apart, its membership cannot change.
  if [ "$(jq -r '(.running_nodes // []) | sort | .[0] // ""' <<<"$cluster")" = "$self" ]; then
    # a vhost that cannot be listed leaves the report out (null): unknown, never "healthy"; bounded,
    # so that a cluster in trouble still gets the rest of the status within the command's timeout
    if queues="$(jq -r '(.vhosts // [])[]' <<<"$facts" | while IFS= read -r vhost; do
        ctl --formatter json list_queues -p "$vhost" name type members online leader --timeout 15 </dev/null \
          | jq -c '.[] | select(.type == "quorum" or .type == "stream")' || exit 1
      done | jq -cs .)"; then
    replicas="$(jq -c --argjson cluster "$cluster" '
      (($cluster.disk_nodes // []) + ($cluster.ram_nodes // [])) as $all
      | ($cluster.running_nodes // []) as $running
      | [.[] | (.members // []) as $m | (.online // []) as $o
         | {members: $m,
            leaderless: ((.leader as $l | $o | index([$l]) | not) or ([$o[] | select(. as $n | $running | index([$n]))] | length) <= ($m | length) / 2)}
         | . + {missing: (if .leaderless then [] else $running - $m end),
                stopped: (if .leaderless then [] else [$m[] | select(. as $n | ($running | index([$n])) and ($o | index([$n]) | not))] end),
                departed: (if .leaderless then [] else $m - $all end)}] as $q
      | def per(k): [$q[] | .[k][]] | group_by(.) | map({key: .[0], value: length}) | from_entries;
        {queues: ($q | length), degraded: ([$q[] | select(.leaderless or (.missing + .stopped + .departed | length) > 0)] | length),
         leaderless: ([$q[] | select(.leaderless)] | length), missing: per("missing"), stopped: per("stopped"), departed: per("departed")}
    ' <<<"$queues")"
    fi
  fi
  version="$(jq -r --arg node "$self" '.versions[$node].rabbitmq_version // ""' <<<"$cluster")"
fi
if [ -z "$version" ]; then
  version="$(rabbitmqctl version 2>/dev/null || dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
fi

# Sorted and deduplicated, so that equal views have equal digests (shared/rabbitmq/operations.ts).
members="$(jq -cn --argjson cluster "$cluster" '{
    all: ((($cluster.disk_nodes // []) + ($cluster.ram_nodes // [])) | unique),
    running: (($cluster.running_nodes // []) | unique)
  }')"
members_digest="$(printf '%s' "$members" | sha256sum | cut -d' ' -f1)"

jq -cn --arg node "$self" --arg version "$version" --argjson running "$running" --argjson paused "$paused" \
  --argjson cluster "$cluster" --argjson policies "$policies" --arg cookieHash "$cookie_hash" \
  --arg defaultType "$default_type" --argjson members "$members" --arg membersDigest "$members_digest" \
  --argjson replicas "$replicas" --argjson leader "$leader" --argjson deprecated "$deprecated" '
  {
    node: $node,
    version: $version,
    running: $running,
    paused: $paused,
    partitions: ($cluster.partitions // {}),
    alarms: [($cluster.alarms // [])[] | if .type == "resource_limit" then "\(.resource):\(.node)" else "\(.type):\(.node // "")" end],
    cookieHash: $cookieHash,
    policies: $policies,
    defaultQueueType: (if $defaultType == "undefined" then "" else $defaultType end),
    underMaintenance: (($cluster.maintenance_status // {})[$node] // "" | test("marked for maintenance")),
    membersDigest: $membersDigest,
    featureFlagsDisabled: ([($cluster.feature_flags // [])[] | select(.stability == "stable" and .state == "disabled")] | length),
    metadataLeader: (if any(($cluster.feature_flags // [])[]; .name == "khepri_db" and .state == "enabled") then $leader else null end),
    deprecatedFeaturesUsed: $deprecated,
    metadataStore: (if $running | not then "" elif any(($cluster.feature_flags // [])[]; .name == "khepri_db" and .state == "enabled") then "khepri" else "mnesia" end),
    memberCounts: {all: ($members.all | length), running: ($members.running | length)},
    replicas: $replicas
  }'
jq -cn --argjson members "$members" '{members: $members}'
