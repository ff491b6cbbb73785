#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
conf_dir="${RABBITMQ_CONFIG_FILES:-/etc/rabbitmq/conf.d}"
data_dir="${RABBITMQ_MNESIA_BASE:-/var/lib/rabbitmq/mnesia}"
# RabbitMQ's own default: next to the node's database directory
pid_file="${RABBITMQ_PID_FILE:-$data_dir/$self.pid}"
deadline=$((SECONDS + SSM_TimeoutSeconds))
# Every rabbitmqctl call starts an Erlang VM (about 0.5 s): the script makes as few as it can.
remaining() { echo $((deadline - SECONDS)); }
node_reachable() { rabbitmq-diagnostics --node "$self" -q ping >/dev/null 2>&1; }
cluster_status() { ctl --formatter json cluster_status; }
fresh_data_dir() { [ -z "$(find "$data_dir" -mindepth 1 -maxdepth 1 -print -quit 2>/dev/null)" ]; }
pid_alive() { [ -s "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

if [ -n "$SSM_PolicyName" ]; then
  jq -e 'type == "object"' <<<"$SSM_PolicyDefinition" >/dev/null 2>&1 || fail "PolicyDefinition is not a JSON object"
fi
# Refused before anything changed: one line of JSON, exit 0 (a normal answer, not an error).
refuse() {
  jq -cn --arg node "$self" --arg version "$own_version" --arg reason "$1" --arg detail "$2" '{node: $node, joined: false, reason: $reason, version: $version, detail: $detail}'
  exit 0
}
own_version="$(installed_version)" || fail "cannot tell the installed RabbitMQ version"
# A node of a series the cluster cannot take (4.0 into 4.3) is refused before it boots or joins.
if [ -n "$SSM_JoinableSeries" ] && [[ ",$SSM_JoinableSeries," != *",$(cut -d. -f1,2 <<<"$own_version"),"* ]]; then
  refuse version-incompatible "RabbitMQ $own_version cannot join this cluster: it takes the series ${SSM_JoinableSeries//,/, }; nothing was changed"
fi
IFS=, read -r -a peers <<<"$SSM_Peers"
others=()
for p in "${peers[@]}"; do [ "$p" = "$self" ] || others+=("$p"); done
work="$(mktemp -d)"
# a failure never leaves a step behind: they are short, so they are waited for
trap 'wait; rm -rf "$work"' EXIT

# Startup is awaited by RabbitMQ itself, no polling: `wait` follows the pid file, the boot and
# the apps, and returns as soon as the node has booted (and, at first boot, joined its peers).
start_rabbitmq() {
  local out
  if [ -d /run/systemd/system ]; then
    # EC2: the unit is Type=notify, so this returns once the node reported itself ready
    systemctl start rabbitmq-server
    out="$(ctl await_startup --timeout "$(remaining)" 2>&1)" || fail "RabbitMQ on $self did not start within $SSM_TimeoutSeconds seconds: ${out:0:300}"
  else
    rabbitmq-server -detached
    # `wait` applies its --timeout to each of its phases: `timeout` holds the whole to the deadline
    local left rc=0
    left="$(remaining)"
    [ "$left" -gt 0 ] || fail "RabbitMQ on $self did not start within $SSM_TimeoutSeconds seconds"
    out="$(timeout "$left" rabbitmqctl --node "$self" -q wait "$pid_file" --timeout "$left" 2>&1)" || rc=$?
    [ "$rc" -ne 124 ] || fail "RabbitMQ on $self did not start within $SSM_TimeoutSeconds seconds"
    [ "$rc" -eq 0 ] || fail "RabbitMQ on $self did not start: ${out: -300}"
  fi
}
# cluster_status into $status; a failed call is retried until the deadline
read_status() {
  until status="$(cluster_status 2>/dev/null)"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "cluster_status on $self kept failing for $SSM_TimeoutSeconds seconds"
    sleep 1
  done
}
# one of the other peers is a member of this node's cluster (always true when founding)
in_peers_cluster() {
  [ "${#others[@]}" -gt 0 ] || return 0
  jq -e --args '(.disk_nodes + .ram_nodes) as $all | any($ARGS.positional[]; . as $p | $all | index([$p]))' "${others[@]}" <<<"$status" >/dev/null
}
# Khepri (khepri_db enabled) adds a member only with a majority of its members running: a join now
# cannot complete, and a half-done one would only raise the majority the cluster needs. The first
# peer that answers tells (one CLI start; Mnesia's 3.x has no such rule and is not asked).
refuse_without_majority() {
  local p s
  [ "${own_version%%.*}" -ge 4 ] || return 0
  for p in "${others[@]}"; do
    s="$(timeout 30 rabbitmqctl --node "$p" -q --formatter json cluster_status 2>/dev/null)" || continue
    if khepri_minority <<<"$s"; then
      refuse majority-lost "the cluster of $p has no running majority of its metadata store: $self cannot join until it is recovered; nothing was changed"
    fi
    return 0
  done
}
# the verification: this node and at least one other peer (only itself when founding) are running members
running_member() {
  jq -e --arg self "$self" --args '.running_nodes as $r
       | ($r | index([$self])) and (($ARGS.positional | length) == 0 or any($ARGS.positional[]; . as $p | $r | index([$p])))' \
       "${others[@]}" <<<"$status" >/dev/null
}

# The steps after the join touch different things, so they run side by side; each one's own
# exit status is checked, and any failure fails the script with that step's error.
policy_step() {
  local current
  current="$(ctl --formatter json list_policies -p / | jq -c --arg n "$SSM_PolicyName" 'map(select(.name == $n)) | .[0] // null')"
  if jq -e --arg pattern "$SSM_PolicyPattern" --arg applyTo "$SSM_PolicyApplyTo" \
       --argjson priority "$SSM_PolicyPriority" --argjson definition "$SSM_PolicyDefinition" \
       '. != null and .pattern == $pattern and .["apply-to"] == $applyTo and .priority == $priority and (.definition | fromjson) == $definition' \
       <<<"$current" >/dev/null; then
    echo unchanged
  else
    ctl set_policy -p / --apply-to "$SSM_PolicyApplyTo" --priority "$SSM_PolicyPriority" \
      "$SSM_PolicyName" "$SSM_PolicyPattern" "$SSM_PolicyDefinition" >/dev/null
    echo applied
  fi
}
queue_type_step() {
  local current
  current="$(ctl --formatter json list_vhosts name default_queue_type | jq -r '.[] | select(.name == "/") | .default_queue_type // ""')"
  if [ "$current" = "$SSM_DefaultQueueType" ]; then echo unchanged
  else
    ctl update_vhost_metadata / --default-queue-type "$SSM_DefaultQueueType" >/dev/null
    echo applied
  fi
}
# Grows every quorum queue onto this node and adds it to every stream that lacks it, then
# re-creates each replica of it that does not run (a stopped quorum replica stays stopped: RabbitMQ
# restarts none); queues without a running leader are left alone, their membership cannot change.
# Prints "<quorum grown> <recreated> <streams grown>".
grow_step() {
  local grown recreated=0 streams=0 type state vhost queue
  grown="$(rabbitmq-queues --node "$self" -q --formatter json grow "$self" all | jq '[.[] | select(.result == "ok")] | length')"
  on() { "rabbitmq-$1" --node "$self" -q "$2" -p "$vhost" "$queue" "$self" </dev/null >/dev/null; }
  while IFS=$'\t' read -r type state vhost queue; do
    if [ "$type" = quorum ]; then
      on queues delete_member
      on queues add_member
    else
      [ "$state" = missing ] || on streams delete_replica
      on streams add_replica
    fi
    if [ "$state" = missing ]; then streams=$((streams + 1)); else recreated=$((recreated + 1)); fi
  done < <(ctl --formatter json list_vhosts name | jq -r '.[].name' | while IFS= read -r vhost; do
      ctl --formatter json list_queues -p "$vhost" name type members online leader </dev/null \
        | jq -r --arg self "$self" --arg vhost "$vhost" '.[] | select(.type == "quorum" or .type == "stream")
            | select(.leader as $l | .online | index([$l]))
            | (if (.members | index([$self]) | not) then "missing" elif (.online | index([$self]) | not) then "stopped" else empty end) as $state
            | select(.type == "stream" or $state == "stopped")
            | [.type, $state, $vhost, .name] | @tsv' || exit 1
    done)
  echo "$grown $recreated $streams"
}
# The launch gate: a replica that has not caught up with its leader's log is no safe copy yet, so the
# node is no member to count on until every quorum replica on it has. RabbitMQ 3.13+ with the flag
# quorum_queue_non_voters adds a replica as a promotable non-voter, promoted once it holds the log up
# to its own join; its own check (check_if_new_quorum_queue_replicas_have_finished_initial_sync) lists
# the ones still promotable and is used as it is. Older versions add a voter at once: there each
# replica's commit index and last log index must reach its leader's commit index as first seen here.
# A queue without a running leader (its majority down: NodeStatus reports it leaderless) has nothing to
# catch up with and is left alone, as the rest of NodeJoin leaves it; where the built-in listing cannot
# answer, the commit-index comparison decides. One CLI start polls every 0.5 s within the budget;
# prints {check, queues, lagging, waitedMs}.
await_replica_sync() {
  local budget=$1
  timeout $((budget + 30)) rabbitmqctl --node "$self" -q eval '
    B = fun erlang:list_to_binary/1, Started = erlang:monotonic_time(millisecond), Until = Started + '"$budget"' * 1000, Self = node(),
    _ = code:ensure_loaded(rabbit_quorum_queue),
    Builtin = erlang:function_exported(rabbit_quorum_queue, list_with_local_promotable, 0)
      andalso rabbit_feature_flags:is_enabled(quorum_queue_non_voters),
    Key = fun(Q) -> {resource, V, queue, N} = amqqueue:get_name(Q), {V, N} end,
    Int = fun(Row, Names) -> hd([I || K <- Names, I <- [proplists:get_value(K, Row)], is_integer(I)] ++ [-1]) end,
    Behind = fun({V, N} = K, Targets) ->
      Rows = case catch rabbit_quorum_queue:status(V, N) of L when is_list(L) -> L; _ -> [] end,
      State = fun(R) -> proplists:get_value(B("Raft State"), R) end,
      Own = [R || R <- Rows, proplists:get_value(B("Node Name"), R) =:= Self, is_integer(proplists:get_value(B("Commit Index"), R))],
      Lead = [R || R <- Rows, State(R) =:= leader],
      case {Own, Lead} of
        {_, []} -> {[], Targets};
        {[], _} -> {[#{vhost => V, name => N, reason => B("its replica here does not run")}], Targets};
        {[O], [O]} -> {[], Targets};
        {[O], [L1]} ->
          Target = maps:get(K, Targets, Int(L1, [B("Commit Index")])),
          Has = min(Int(O, [B("Commit Index")]), Int(O, [B("Last Written"), B("Log Index")])),
          {[#{vhost => V, name => N, index => Has, target => Target} || Has < Target], Targets#{K => Target}};
        _ -> {[#{vhost => V, name => N, reason => B("more than one leader")}], Targets}
      end
    end,
    ByIndex = fun(Pending, Targets) ->
        lists:foldl(fun(K, {Acc, T}) -> {Lag, T1} = Behind(K, T), {Lag ++ Acc, T1} end, {[], Targets}, Pending)
    end,
    Lagging = fun(Pending, Targets) when Builtin ->
        try {[#{vhost => V, name => N} || Q <- rabbit_quorum_queue:list_with_local_promotable(), {V, N} <- [Key(Q)], lists:member({V, N}, Pending)], Targets}
        catch _:_ -> ByIndex(Pending, Targets) end;
      (Pending, Targets) -> ByIndex(Pending, Targets)
    end,
    Poll = fun Poll(Pending, Targets) ->
      {Lag, Targets1} = Lagging(Pending, Targets),
      Now = erlang:monotonic_time(millisecond),
      case Lag =:= [] orelse Now >= Until of
        true -> {Lag, Now - Started};
        false -> timer:sleep(min(500, Until - Now)), Poll([{maps:get(vhost, I), maps:get(name, I)} || I <- Lag, is_map_key(name, I)], Targets1)
      end
    end,
    Local = [Key(Q) || Q <- rabbit_amqqueue:list_local_quorum_queues()],
    {Left, Waited} = Poll(Local, #{}),
    Check = case Builtin of true -> B("initial-sync"); false -> B("commit-index") end,
    io:format("~s~n", [rabbit_json:encode(#{check => Check, queues => length(Local), lagging => Left, waitedMs => Waited})]),
    ok.' </dev/null
}
step_names=()
step_pids=()
start_steps() {
  step_names=()
  step_pids=()
  [ -z "$SSM_PolicyName" ] || step_names+=(policy)
  [ -z "$SSM_DefaultQueueType" ] || step_names+=(queue_type)
  [ "$SSM_GrowQuorum" != "true" ] || step_names+=(grow)
  local name
  for name in "${step_names[@]}"; do
    "${name}_step" >"$work/$name" 2>"$work/$name.err" &
    step_pids+=($!)
  done
}
finish_steps() {
  local i failed=""
  for i in "${!step_pids[@]}"; do
    if ! wait "${step_pids[$i]}"; then
      echo "NodeJoin: ${step_names[$i]} step failed: $(tail -c 2000 "$work/${step_names[$i]}.err")" >&2
      failed=1
    fi
  done
  [ -z "$failed" ] || exit 1
}

action=""
if fresh_data_dir && ! pid_alive; then
  refuse_without_majority
  mkdir -p "$conf_dir"
  {
    echo "# written by warren NodeJoin: the members this node joins at first boot"
    echo "cluster_formation.peer_discovery_backend = classic_config"
    i=1
    for p in "${peers[@]}"; do echo "cluster_formation.classic_config.nodes.$i = $p"; i=$((i + 1)); done
  } >"$conf_dir/90-warren-peers.conf"
  start_rabbitmq
  action="booted-with-peers"
  # A finished boot is a finished join: the steps start while the membership is read. Should
  # the node have joined nobody, they only touched its own empty database, which the join
  # below resets, and they run again.
  start_steps
elif ! app_running; then
  if node_reachable; then
    # Starting a member that pause_minority paused would make it serve alone, cut off from the
    # majority: a split brain that outlives the cut (measured: tests/integration/partition.test.ts).
    # Only a node known not to be paused is started.
    paused="$(ctl eval 'whereis(rabbit_outside_app_process) =/= undefined.' 2>/dev/null || true)"
    [ "$paused" = false ] \
      || fail "$self is paused by partition handling (or cannot tell: '${paused:0:100}'); RabbitMQ starts it itself once the majority is back"
    ctl start_app
    out="$(ctl await_startup --timeout "$(remaining)" 2>&1)" || fail "RabbitMQ on $self did not start within $SSM_TimeoutSeconds seconds: ${out:0:300}"
  else
    start_rabbitmq
  fi
fi

read_status
if ! in_peers_cluster; then
  [ "${#others[@]}" -gt 0 ] || fail "no peer to join"
  [ -z "$action" ] || { wait || true; step_pids=(); }
  refuse_without_majority
  joined=""
  stopped=""
  for p in "${others[@]}"; do
    # Only a reachable peer is worth stopping the app for.
    if ! rabbitmq-diagnostics --node "$p" -q ping --timeout 10 >/dev/null 2>&1; then
      echo "NodeJoin: peer $p is not reachable, trying the next peer" >&2
      continue
    fi
    [ -n "$stopped" ] || { ctl stop_app >/dev/null; stopped=1; }
    if out="$(ctl join_cluster "$p" 2>&1)"; then joined="$p"; break; fi
    echo "NodeJoin: join_cluster $p failed (${out:0:300}), trying the next peer" >&2
  done
  [ -z "$stopped" ] || ctl start_app >/dev/null
  [ -n "$joined" ] || fail "could not join any of: ${others[*]}"
  action="joined"
  read_status
elif [ -z "$action" ]; then
  action="already-member"
fi

until running_member; do
  [ "$SECONDS" -lt "$deadline" ] || fail "$self is not a running member with any of $SSM_Peers after $SSM_TimeoutSeconds seconds"
  sleep 1
  if [ "$(remaining)" -gt 0 ] && ctl await_startup --timeout "$(remaining)" >/dev/null 2>&1; then read_status; fi
done

[ "${#step_pids[@]}" -gt 0 ] || start_steps
finish_steps
policy="skipped"
for name in policy queue_type; do
  [ -s "$work/$name" ] || continue
  result="$(cat "$work/$name")"
  if [ "$result" = applied ] || [ "$policy" = applied ]; then policy="applied"; else policy="unchanged"; fi
done
grown=0
recreated=0
streams=0
[ ! -s "$work/grow" ] || read -r grown recreated streams <"$work/grow"
sync='{"check": null, "queues": 0, "lagging": [], "waitedMs": 0}'
if [ "$SSM_GrowQuorum" = "true" ]; then
  left="$(remaining)"
  out="$(await_replica_sync "$((left > 0 ? left : 0))" 2>&1)" || true
  sync="${out%%$'\n'*}"
  jq -e '.lagging | type == "array"' >/dev/null 2>&1 <<<"$sync" || fail "cannot tell whether the quorum replicas on $self caught up with their leaders: ${out:0:300}"
  if ! jq -e '.lagging == []' >/dev/null <<<"$sync"; then
    fail "$self is a member, but its quorum replicas did not finish their initial sync within $SSM_TimeoutSeconds seconds ($(jq -r '.check' <<<"$sync") check): $(jq -r '(.lagging | length) as $n
      | [.lagging[] | if .name == null then "cannot tell: \(.reason)" else "\(.name) in vhost \(.vhost)" + (if .reason then ": \(.reason)" elif .target then ": log at \(.index) of \(.target)" else "" end) end]
      | "\($n) of \(.queues // 0) lag: " + (.[:5] | join("; ")) + (if $n > 5 then "; and \($n - 5) more" else "" end)' <<<"$sync")"
  fi
fi

jq -c --arg node "$self" --arg action "$action" --arg policy "$policy" --argjson grown "$grown" --argjson recreated "$recreated" --argjson streams "$streams" --argjson sync "$sync" '{
  node: $node,
  joined: true,
  version: (.versions[$node].rabbitmq_version // "unknown"),
  action: $action,
  members: { all: ((.disk_nodes + .ram_nodes) | unique), running: .running_nodes },
  policy: $policy,
  quorumGrown: $grown,
  streamsGrown: $streams,
  replicasRecreated: $recreated,
  replicasSynced: (if $sync.check == null then null else true end),
  syncCheck: $sync.check,
  syncQueues: $sync.queues,
  syncWaitSeconds: ($sync.waitedMs / 1000)
}' <<<"$status"
