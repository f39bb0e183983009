"""Cloud Map on the local cloud: the template's namespace, services and instances answer DiscoverInstances over
the AWS endpoint (what `aws servicediscovery discover-instances` sends), and each function service's instance
names a deployed function."""
from __future__ import annotations

from botocore.config import Config


def test_every_service_is_discoverable_with_its_attributes(local_cloud, aws):
    import boto3

    sd = boto3.client("servicediscovery", endpoint_url=local_cloud.endpoints["aws_endpoint"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing",
                      config=Config(inject_host_prefix=False))  # the CLI: AWS_DISABLE_HOST_PREFIX_INJECTION=true
    found = {}
    for service in ("auth", "persist", "mail", "avatar", "gateway", "mail-sender"):
        answer = sd.discover_instances(NamespaceName="notifyx.internal", ServiceName=service, HealthStatus="ALL")
        found[service] = {i["InstanceId"]: i["Attributes"] for i in answer["Instances"]}
    assert set(found["mail-sender"]) == {"ses-primary", "ses-secondary"}
    assert {a["SENDER"] for a in found["mail-sender"].values()} == {"notifications@notifyx.local",
                                                                     "notifications@mail2.notifyx.local"}
    lam = aws("lambda")
    for service in ("auth", "persist", "mail", "avatar", "gateway"):
        [attributes] = found[service].values()
        assert lam.get_function(FunctionName=attributes["FUNCTION_ARN"])["Configuration"]["FunctionArn"] == \
            attributes["FUNCTION_ARN"]
