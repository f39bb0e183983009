"""IAM authorization (AWS_IAM) of API Gateway methods and routes, as the local cloud applies it.

On AWS a request to such a method is signed with Signature Version 4 for the `execute-api` service, and API
Gateway checks the signature and the caller's IAM policies. IAM is not enforced locally (no policy is evaluated,
and the signature is not recomputed: the local cloud does not hold the callers' secret keys), but the request must
be signed: without a SigV4 Authorization header (or with one scoped to another service) the answer is API
Gateway's 403. The caller's access key reaches the integration (`requestContext.identity` on REST APIs,
`requestContext.authorizer.iam` on HTTP APIs), with the IAM user it belongs to when the emulator knows the key. A
function URL with AuthType AWS_IAM is the same, signed for the `lambda` service.
"""
from __future__ import annotations

import re
from collections.abc import Callable

_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[A-Za-z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
                    r"(?P<service>[a-z0-9-]+)/aws4_request,\s*SignedHeaders=[a-z0-9;-]+,\s*Signature=[0-9a-f]{64}")

#: an access key -> {"userArn", "userId"} of the IAM user it belongs to, or None
Identities = Callable[[str], "dict | None"]


class Unsigned(Exception):
    """Not a request API Gateway would authorize with IAM; `str()` is API Gateway's message."""


def access_key(header: str | None, service: str = "execute-api") -> str:
    """The access key of a request's SigV4 Authorization header scoped to `service` (execute-api; a function URL:
    lambda); else Unsigned."""
    match = _SIGV4.fullmatch((header or "").strip())
    if match is None:
        raise Unsigned("Missing Authentication Token")
    if match["service"] != service:
        raise Unsigned(f"Credential should be scoped to correct service: '{service}'.")
    return match["key"]
