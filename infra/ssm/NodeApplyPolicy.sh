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

# The administrator credential: the secret is read with the instance's own role (IMDSv2, then a SigV4-signed
# GetSecretValue; the AWS_* variables are the SDKs' own names for another metadata or Secrets Manager
# endpoint). The password is in no command line and no output.
admin="skipped"
if [ -n "$SSM_AdminSecretId" ]; then
  imds="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}"
  imds="${imds%/}"
  token="$(curl -sf --max-time 5 -X PUT "$imds/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')" ||
    fail "no instance metadata token from $imds"
  meta() { curl -sf --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"; }
  role="$(meta iam/security-credentials/ | head -n 1)" || true
  [ -n "$role" ] || fail "the instance has no role to read $SSM_AdminSecretId with (instance profile)"
  creds="$(meta "iam/security-credentials/$role")" || fail "no credentials for the instance role $role"
  region="$(meta placement/region)" || fail "no region in the instance metadata"
  endpoint="${AWS_ENDPOINT_URL_SECRETS_MANAGER:-https://secretsmanager.$region.amazonaws.com}"
  secret="$(jq -r '"user = \"\(.AccessKeyId):\(.SecretAccessKey)\""' <<<"$creds" |
    curl -sS --fail-with-body --max-time 20 -K - --aws-sigv4 "aws:amz:$region:secretsmanager" \
      -H "x-amz-security-token: $(jq -r .Token <<<"$creds")" -H 'X-Amz-Target: secretsmanager.GetSecretValue' \
      -H 'Content-Type: application/x-amz-json-1.1' -d "$(jq -cn --arg id "$SSM_AdminSecretId" '{SecretId: $id}')" "$endpoint/" 2>&1)" ||
    fail "GetSecretValue of $SSM_AdminSecretId failed: $(tr -s '\n' ' ' <<<"$secret" | head -c 300)"
  version="$(jq -r '.VersionId // ""' <<<"$secret")"
  user="$(jq -r '(.SecretString // "") | (fromjson? // {}) | .username // "" | strings' <<<"$secret")"
  password="$(jq -r '(.SecretString // "") | (fromjson? // {}) | .password // "" | strings' <<<"$secret")"
  [[ "$version" =~ ^[A-Za-z0-9-]{1,64}$ ]] || fail "$SSM_AdminSecretId answered no version id"
  [[ "$user" =~ ^[A-Za-z0-9_.@-]{1,64}$ ]] || fail "$SSM_AdminSecretId has no username of [A-Za-z0-9_.@-], 1 to 64 characters"
  [ "${#password}" -ge 8 ] || fail "$SSM_AdminSecretId has no password of 8 characters or more"
  # One CLI start does it all: the password is read by the node from a file only RabbitMQ's user can read
  # (in its own home, which it can reach whatever the service's private /tmp), deleted right after.
  home="$(dirname "${WARREN_ERLANG_COOKIE_FILE:-/var/lib/rabbitmq/.erlang.cookie}")"
  secret_file="$(mktemp "$home/.warren-admin.XXXXXX")"
  trap 'rm -f "$secret_file"' EXIT
  printf '%s' "$password" >"$secret_file"
  chown rabbitmq: "$secret_file" 2>/dev/null || true
  answer="$(ctl eval "U = list_to_binary(\"$user\"), Record = list_to_binary(\"$version:$user\"), Acting = list_to_binary(\"warren\"),
    {ok, P} = file:read_file(\"$secret_file\"),
    Known = try rabbit_runtime_parameters:value_global(warren_admin) catch _:_ -> none end,
    Exists = element(1, rabbit_auth_backend_internal:lookup_user(U)) =:= ok,
    Action = if Known =:= Record andalso Exists -> unchanged;
      Exists -> rabbit_auth_backend_internal:change_password(U, P, Acting), updated;
      true -> rabbit_auth_backend_internal:add_user(U, P, Acting), created end,
    Action =:= unchanged orelse begin
      rabbit_auth_backend_internal:set_tags(U, [administrator], Acting),
      rabbit_auth_backend_internal:set_permissions(U, list_to_binary(\"/\"), list_to_binary(\".*\"), list_to_binary(\".*\"), list_to_binary(\".*\"), Acting),
      rabbit_runtime_parameters:set_global(warren_admin, Record, Acting) end,
    io:format(\"~s~n\", [Action]), ok.")" || answer="refused by the node"
  rm -f "$secret_file"
  admin="${answer%%$'\n'*}"
  [[ "$admin" =~ ^(created|updated|unchanged)$ ]] || fail "the administrator $user could not be set: $admin"
fi

jq -cn --arg node "$self" --arg policy "$policy" --arg flags "$flags" --arg admin "$admin" --arg user "${user:-}" \
  '{node: $node, policy: $policy, featureFlags: $flags, admin: $admin} + (if $user == "" then {} else {adminUser: $user} end)'

