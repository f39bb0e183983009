#!/bin/bash
# LocalStack runs this inside its container once it is ready (mounted at /etc/localstack/init/ready.d).
# It says, in `docker compose logs`, whether this LocalStack can host Notifyx and what will not work.
set -uo pipefail

health=$(curl -fsS http://localhost:4566/_localstack/health) || {
  echo "notifyx: cannot read LocalStack's health endpoint" >&2
  exit 1
}

state_of() {
  # prints the service's state ("available", "running", ...) or nothing when LocalStack does not offer it
  echo "$health" | grep -oE "\"$1\": *\"[a-z_]+\"" | head -n1 | sed -E 's/.*: *"([a-z_]+)"/\1/'
}

missing=()
for service in ${NOTIFYX_REQUIRED_SERVICES//,/ }; do
  case "$(state_of "$service")" in
    available|running|initialized) ;;
    *) missing+=("$service") ;;
  esac
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "notifyx: this LocalStack lacks ${missing[*]}: \`notifyx up --aws-endpoint\` will fail to deploy" >&2
  exit 1
fi

case "$(state_of apigatewayv2)" in
  available|running|initialized)
    echo "notifyx: apigatewayv2 is available: the WebSocket API resources deploy here" ;;
  *)
    echo "notifyx: apigatewayv2 is not available (a paid LocalStack plan has it): the WebSocket API" \
         "cannot be created in this LocalStack" >&2 ;;
esac

echo "notifyx: LocalStack is ready; run: notifyx up --aws-endpoint http://localhost:4566"
