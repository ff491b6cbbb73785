#!/bin/bash
# the shared opening follows here in the deployed document: infra/ssm/opening.sh

policy="skipped"
if [ -n "$SSM_PolicyName" ]; then
  jq -e 'type == "object"' <<<"$SSM_PolicyDefinition" >/dev/null 2>&1 || fail "PolicyDefinition is not a JSON object"
  current="$(ctl --formatter json list_policies -p / | jq -c --arg n "$SSM_PolicyName" 'map(select(.name == $n)) | .[0] // null')"
  if jq -e --arg pattern "$SSM_PolicyPattern" --arg applyTo "$SSM_PolicyApplyTo" \
       --argjson priority "$SSM_PolicyPriority" --argjson definition "$SSM_PolicyDefinition" \
       '. != null and .pattern == $pattern and .["apply-to"] == $applyTo and .priority == $priority and (.definition | fromjson) == $definition' \
       <<<"$current" >/dev/null; then
    policy="unchanged"
  else
    ctl set_policy -p / --apply-to "$SSM_PolicyApplyTo" --priority "$SSM_PolicyPriority" \
      "$SSM_PolicyName" "$SSM_PolicyPattern" "$SSM_PolicyDefinition" >/dev/null
    policy="applied"
  fi
fi

if [ -n "$SSM_DefaultQueueType" ]; then
  current_type="$(ctl --formatter json list_vhosts name default_queue_type | jq -r '.[] | select(.name == "/") | .default_queue_type // ""')"
  if [ "$current_type" = "$SSM_DefaultQueueType" ]; then
    [ "$policy" = "applied" ] || policy="unchanged"
  else
    ctl update_vhost_metadata / --default-queue-type "$SSM_DefaultQueueType" >/dev/null
    policy="applied"
  fi
fi

flags="skipped"
if [ "$SSM_EnableFeatureFlags" = "true" ]; then
  disabled="$(ctl --formatter json list_feature_flags name state stability | jq '[.[] | select(.stability == "stable" and .state == "disabled")] | length')"
  flags="unchanged"
  if [ "$disabled" -gt 0 ]; then
    ctl enable_feature_flag all >/dev/null
    flags="enabled"
  fi
fi

jq -cn --arg node "$self" --arg policy "$policy" --arg flags "$flags" '{node: $node, policy: $policy, featureFlags: $flags}'
