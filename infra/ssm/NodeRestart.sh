#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
deadline=$((SECONDS + SSM_TimeoutSeconds))
remaining() { local left=$((deadline - SECONDS)); [ "$left" -gt 0 ] || fail "$SSM_Step of $self did not finish within $SSM_TimeoutSeconds seconds"; echo "$left"; }
# every CLI call is bounded by what is left of TimeoutSeconds
bounded() { timeout "$(remaining)" "$@"; }
# true while pause_minority (or autoheal) holds the app stopped and will start it itself once the
# majority is back; anything else than true or false when it cannot tell
pause_state() { bounded rabbitmqctl --node "$self" -q eval 'whereis(rabbit_outside_app_process) =/= undefined.' 2>/dev/null || true; }
refuse() { jq -cn --arg node "$self" --arg step "$SSM_Step" --arg reason "$1" --arg detail "$2" '{node: $node, step: $step, done: false, reason: $reason, detail: $detail}'; exit 0; }

IFS=, read -r -a survivors <<<"$SSM_Survivors"
for s in "${survivors[@]}"; do [ "$s" != "$self" ] || fail "Survivors must not name this node ($self)"; done
bounded rabbitmq-diagnostics --node "$self" -q ping --timeout 30 >/dev/null 2>&1 || fail "the Erlang node $self is not running"

if [ "$SSM_Step" != start ] && app_running; then
  # Stopping is what cannot be taken back: only while the winning side runs and is reachable,
  # so the node restarts into it and never leaves the cluster without a running member.
  survivor=""
  for s in "${survivors[@]}"; do
    if bounded rabbitmq-diagnostics --node "$s" -q check_running --timeout 30 >/dev/null 2>&1; then survivor="$s"; break; fi
  done
  [ -n "$survivor" ] || refuse no-survivor-running "none of $SSM_Survivors runs its app and answers from $self"
  bounded rabbitmqctl --node "$self" -q stop_app >/dev/null || fail "stop_app on $self failed or did not finish in time"
fi

if [ "$SSM_Step" != stop ] && ! app_running; then
  paused="$(pause_state)"
  [ "$paused" = false ] || refuse paused "RabbitMQ's partition handling holds $self paused (or cannot tell: '${paused:0:100}'); it starts the app itself once the majority is back"
  bounded rabbitmqctl --node "$self" -q start_app >/dev/null || fail "start_app on $self failed or did not finish in time"
  out="$(bounded rabbitmqctl --node "$self" -q await_startup --timeout "$(remaining)" 2>&1)" || fail "$self did not start within $SSM_TimeoutSeconds seconds: ${out:0:300}"
fi

cluster='{}'
running=false
if app_running; then
  running=true
  cluster="$(bounded rabbitmqctl --node "$self" -q --formatter json cluster_status)"
fi
jq -cn --arg node "$self" --arg step "$SSM_Step" --argjson running "$running" --argjson cluster "$cluster" '{
  node: $node,
  step: $step,
  done: true,
  running: $running,
  members: {
    all: ((($cluster.disk_nodes // []) + ($cluster.ram_nodes // [])) | unique),
    running: (($cluster.running_nodes // []) | unique)
  },
  partitions: ($cluster.partitions // {})
}'
