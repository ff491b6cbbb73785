#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh
drained=false
if app_running; then
  rabbitmq-upgrade --node "$self" -q drain >/dev/null
  drained=true
fi
jq -cn --arg node "$self" --argjson drained "$drained" '{node: $node, drained: $drained}'
