"""An HTTP API's Lambda integration with parameter mapping (fixtures/apps/http_mapping): the function sees the
request as the mapping changed it (a header overwritten from another, one removed, a query string appended, one
removed, the path overwritten), and its answer's headers and status are changed by the response mapping. Before 7
December request mapping was applied to HTTP proxy integrations only and refused on Lambda's, and response mapping
was refused."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "http_mapping" / "template.yaml"


def test_the_function_sees_the_mapped_request_and_the_client_the_mapped_answer(cloud):
    base = cloud.endpoints["http_api"].rsplit("/", 1)[0]
    request = urllib.request.Request(f"{base}/tenants/echo?debug=1&page=2",
                                     headers={"X-User": "acme", "X-Secret": "s3cr3t", "X-Tenant": "forged"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        status, headers, seen = answer.status, answer.headers, json.loads(answer.read())
    assert status == 202 and headers["x-internal"] is None
    assert seen["headers"]["x-tenant"] == "acme" and "x-secret" not in seen["headers"]
    assert seen["query"] == {"page": "2", "source": "api"} and seen["rawQueryString"] == "page=2&source=api"
    assert seen["rawPath"] == "/internal/echo"
