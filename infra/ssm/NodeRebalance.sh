#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
app_running || fail "the app does not run on $self"
# One CLI start. b: the leaders before, counted as the rebalance counts them (the node each quorum
# queue's record names). Then rabbit_amqqueue:rebalance(quorum, ".*", ".*"), the call `rabbitmq-queues
# rebalance quorum` makes on 3.10, 4.0 and 4.3 alike; its answer, a row per node of the leaders after
# ("Node name", "Number of quorum queues"; proplists, maps tolerated), goes to the CLI's table formatter,
# which is for people, so it is read here as a (`after` is reserved in Erlang). While another rebalance
# holds RabbitMQ's global lock it answers {error,rebalance_in_progress} and moves nothing. Timed out
# (status 124), the leaders already moved stay moved.
out="$(timeout "$SSM_TimeoutSeconds" rabbitmqctl --node "$self" -q eval '
  B = lists:foldl(fun(Q, M) -> maps:update_with(amqqueue:qnode(Q), fun(N) -> N + 1 end, 1, M) end, #{},
    [Q || Q <- rabbit_amqqueue:list(), amqqueue:get_type(Q) =:= rabbit_quorum_queue]),
  F = fun(K, R) when is_map(R) -> maps:get(list_to_binary(K), R, 0); (K, R) -> proplists:get_value(list_to_binary(K), R, 0) end,
  io:format("~s~n", [rabbit_json:encode(case rabbit_amqqueue:rebalance(quorum, <<".*">>, <<".*">>) of
    {ok, Rs} -> #{b => B, a => maps:from_list([{F("Node name", R), F("Number of quorum queues", R)} || R <- Rs])};
    E -> #{error => list_to_binary(io_lib:format("~p", [E]))} end)]).' 2>&1)" || fail "rebalance failed (status $?): ${out:0:500}"
answer="$(grep -m 1 '^{' <<<"$out")" || fail "rebalance printed no answer: ${out:0:500}"
jq -ce --arg node "$self" '{node: $node} + if .error == "{error,rebalance_in_progress}" then {rebalanced: false, reason: "in-progress", detail: .error}
  elif .error then error(.error) else {rebalanced: true, moved: ([.a as $a | .b | to_entries[] | .value - ($a[.key] // 0) | select(. > 0)] | add // 0), before: .b, after: .a} end' \
  <<<"$answer" || fail "rebalance failed: $answer"
