#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
cookie_file="${WARREN_ERLANG_COOKIE_FILE:-/var/lib/rabbitmq/.erlang.cookie}"

cookie_hash=""
if [ -r "$cookie_file" ]; then cookie_hash="$(sha256sum "$cookie_file" | cut -d' ' -f1)"; fi

# One CLI start gathers every fact of this node (each start of the CLI is its own Erlang VM, about a
# second of CPU, on a broker's own cores): whether the app runs, whether partition handling holds it
# paused, the policies of "/", the vhosts and "/"'s default queue type (none before 3.11), the Khepri
# leader this member knows (only where khepri_db is enabled: 4.0 runs Khepri beside Mnesia), the
# deprecated features in use (3.13 and later), and what `rabbitmqctl cluster_status` reports, read as
# that command reads it: the membership and partitions (rabbit_db_cluster:cli_cluster_status/0 from
# 3.13, rabbit_mnesia:status/0 before), the alarms of every running member, this node's maintenance
# state and version, the feature flags, the administrator's secret version (the global parameter warren_admin
# that NodeApplyPolicy records, while its user exists). The first running member also lists the quorum queues and
# streams of every vhost with their members, online replicas and leader, as `list_queues` would,
# within 15 s: past that they are left out (null), never reported healthy. It fails only when the node
# cannot be reached at all: not running, not paused. A running node that cannot answer is an error:
# its cluster status within 40 s (a Khepri member cut from its peers asks each of them whether it
# runs), every fact within 45 s, the CLI start within 55 s; the document's bound is 60 s.
facts="$(timeout 55 rabbitmqctl --node "$self" -q eval '
  Self = node(),
  Running = rabbit:is_running(),
  Paused = (not Running) andalso whereis(rabbit_outside_app_process) =/= undefined,
  Text = fun(V) when is_binary(V) -> V; (V) -> unicode:characters_to_binary(V) end,
  Until = erlang:monotonic_time(millisecond) + 45000,
  Within = fun(Cap, Read) ->
    {Pid, Ref} = spawn_monitor(fun() -> exit({answer, Read()}) end),
    receive {_, Ref, process, Pid, {answer, Value}} -> Value; {_, Ref, process, Pid, _} -> null
    after max(0, min(Cap, Until - erlang:monotonic_time(millisecond))) -> exit(Pid, kill), null end
  end,
  Facts = case Running of
    false -> #{};
    true ->
      try
        Status = case Within(40000, fun() -> try rabbit_db_cluster:cli_cluster_status() catch error:undef -> rabbit_mnesia:status() end end) of
          null -> throw(cluster_status_unanswered);
          Answer -> Answer
        end,
        Nodes = proplists:get_value(nodes, Status, []),
        Members = lists:usort(proplists:get_value(running_nodes, Status, [])),
        Vhosts = rabbit_vhost:list_names(),
        Alarm = fun({ {resource_limit, Resource, On}, _}, _) -> Text(io_lib:format("~s:~s", [Resource, On]));
                   (Other, On) -> Text(io_lib:format("~p:~s", [Other, On])) end,
        Alarms = [Alarm(A, On) || {On, {ok, L}} <- lists:zip(Members, erpc:multicall(Members, rabbit, alarms, [], 5000)), A <- L],
        Flags = [maps:from_list(F) || F <- try rabbit_ff_extra:cli_info() catch _:_ -> [] end],
        Khepri = lists:any(fun(F) -> maps:get(name, F) =:= khepri_db andalso maps:get(state, F) =:= enabled end, Flags),
        None = atom_to_binary(undefined, utf8),
        Type = try rabbit_vhost:default_queue_type(<<"/">>) of None -> <<>>; T when is_binary(T) -> T; _ -> <<>> catch _:_ -> <<>> end,
        Leader = try ra_leaderboard:lookup_leader(rabbitmq_metadata) of {_, L} when Khepri -> L; _ -> null catch _:_ -> null end,
        Product = rabbit:product_info(),
        Replicated = fun(Q) -> lists:member(amqqueue:get_type(Q), [rabbit_quorum_queue, rabbit_stream_queue]) end,
        Replicas = fun(Q) -> maps:from_list(rabbit_amqqueue:info(Q, [members, online, leader])) end,
        Admin = try rabbit_runtime_parameters:value_global(warren_admin) of
          Recorded when is_binary(Recorded) ->
            case binary:split(Recorded, <<":">>) of
              [AdminVersion, AdminUser] -> case rabbit_auth_backend_internal:lookup_user(AdminUser) of {ok, _} -> AdminVersion; _ -> null end;
              _ -> null
            end;
          _ -> null
        catch _:_ -> null end,
        Judge = case Members of [Self | _] -> [{queues, Within(15000, fun() -> [Replicas(Q) || V <- Vhosts, Q <- rabbit_amqqueue:list(V), Replicated(Q)] end)}]; _ -> [] end,
        maps:from_list(Judge ++ [
          {version, Text(maps:get(product_version, Product, maps:get(product_base_version, Product, "")))},
          {partitions, maps:from_list(proplists:get_value(partitions, Status, []))}, {alarms, Alarms},
          {policies, [proplists:get_value(name, P) || P <- rabbit_policy:list(<<"/">>)]}, {defaultQueueType, Type},
          {underMaintenance, lists:member(catch rabbit_maintenance:status_local_read(Self), [draining, drained])},
          {featureFlagsDisabled, length([F || F = #{stability := stable, state := disabled} <- Flags])},
          {metadataLeader, Leader}, {adminSecretVersion, Admin}, {metadataStore, case Khepri of true -> khepri; false -> mnesia end},
          {deprecatedFeaturesUsed, lists:sort(try maps:keys(rabbit_deprecated_features:list(used)) catch _:_ -> [] end)},
          {all, lists:usort(proplists:get_value(disc, Nodes, []) ++ proplists:get_value(ram, Nodes, []))}, {members, Members}])
      catch Class:Reason -> #{error => Text(io_lib:format("~p:~p", [Class, Reason]))}
      end
  end,
  io:format("~s~n", [rabbit_json:encode(Facts#{running => Running, paused => Paused})]),
  ok.' 2>/dev/null | head -n 1)" || [ $? != 124 ] || fail "$self did not report its facts within 55 s"
jq -e 'type == "object"' >/dev/null 2>&1 <<<"${facts:-null}" || facts='{"running":false,"paused":false}'
! jq -e 'has("error")' >/dev/null <<<"$facts" || fail "$self runs but cannot report its facts: $(jq -r .error <<<"$facts")"
version="$(jq -r '.version // ""' <<<"$facts")"
[ -n "$version" ] || version="$(installed_version)" || version=unknown
# Sorted and deduplicated, so that equal views have equal digests (shared/rabbitmq/operations.ts).
members="$(jq -c '{all: (.all // []), running: (.members // [])}' <<<"$facts")"
members_digest="$(printf '%s' "$members" | sha256sum | cut -d' ' -f1)"
# Quorum queue and stream replicas are judged once per cluster, by its first running member: counts per node of
# queues with no replica on a running member (missing), a replica there that does not run
# (stopped), a replica on a node outside the cluster (departed); a queue without a running
# leader or a running majority (leaderless) is counted apart, its membership cannot change.
replicas="$(jq -c --argjson members "$members" '
  if (.queues | type) != "array" then null else
  $members.all as $all | $members.running as $running
  | [.queues[] | (.members // []) as $m | (.online // []) as $o
     | {leaderless: ((.leader as $l | $o | index([$l]) | not) or ([$o[] | select(. as $n | $running | index([$n]))] | length) <= ($m | length) / 2)}
     | . + {missing: (if .leaderless then [] else $running - $m end),
            stopped: (if .leaderless then [] else [$m[] | select(. as $n | ($running | index([$n])) and ($o | index([$n]) | not))] end),
            departed: (if .leaderless then [] else $m - $all end)}] as $q
  | def per(k): [$q[] | .[k][]] | group_by(.) | map({key: .[0], value: length}) | from_entries;
    {queues: ($q | length), degraded: ([$q[] | select(.leaderless or (.missing + .stopped + .departed | length) > 0)] | length),
     leaderless: ([$q[] | select(.leaderless)] | length), missing: per("missing"), stopped: per("stopped"), departed: per("departed")}
  end' <<<"$facts")"

jq -c --arg node "$self" --arg version "$version" --arg cookieHash "$cookie_hash" --arg membersDigest "$members_digest" \
  --argjson members "$members" --argjson replicas "$replicas" '
  {partitions: {}, alarms: [], policies: [], defaultQueueType: "", underMaintenance: false, featureFlagsDisabled: 0,
   metadataLeader: null, deprecatedFeaturesUsed: [], metadataStore: "", adminSecretVersion: null} + .
  | {node: $node, version: $version, running, paused, partitions, alarms, cookieHash: $cookieHash, policies, defaultQueueType,
     underMaintenance, membersDigest: $membersDigest, featureFlagsDisabled, metadataLeader, deprecatedFeaturesUsed, metadataStore,
     adminSecretVersion, memberCounts: {all: ($members.all | length), running: ($members.running | length)}, replicas: $replicas}' <<<"$facts"
jq -cn --argjson members "$members" '{members: $members}'
