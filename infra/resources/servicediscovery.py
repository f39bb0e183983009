"""AWS Cloud Map: HTTP namespaces, services and their instances (moto's servicediscovery backend serves them,
including the data plane's DiscoverInstances)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, pick, tags

if TYPE_CHECKING:
    from infra.deploy import Deployer


def _tags(props: dict) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags(props["Tags"]).items()] if props.get("Tags") else []


@creates("AWS::ServiceDiscovery::HttpNamespace", handles=("Name", "Description", "Tags"))
def _http_namespace(d: Deployer, lid: str, props: dict) -> Resource:
    sd = d.client("servicediscovery")
    args: dict[str, Any] = {"Name": props["Name"], **pick(props, "Description")}
    if props.get("Tags"):
        args["Tags"] = _tags(props)
    operation = sd.create_http_namespace(**args)["OperationId"]
    namespace_id = sd.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    arn = sd.get_namespace(Id=namespace_id)["Namespace"]["Arn"]
    return Resource(lid, "AWS::ServiceDiscovery::HttpNamespace", namespace_id, {"Id": namespace_id, "Arn": arn})


@creates("AWS::ServiceDiscovery::Service",
         handles=("Name", "NamespaceId", "Description", "HealthCheckCustomConfig", "Type", "Tags"),
         unsupported={"DnsConfig": "no DNS namespaces locally: HTTP namespaces (DiscoverInstances) only",
                      "HealthCheckConfig": "Route 53 health checks do not run locally; use HealthCheckCustomConfig",
                      "ServiceAttributes": "service attributes are not kept locally"})
def _service(d: Deployer, lid: str, props: dict) -> Resource:
    sd = d.client("servicediscovery")
    name = d.name_for(lid, props, "Name", limit=127)
    args: dict[str, Any] = {"Name": name, **pick(props, "NamespaceId", "Description", "Type")}
    if "HealthCheckCustomConfig" in props:
        # FailureThreshold is deprecated (always 1 on AWS); moto wants a number if the key is there
        args["HealthCheckCustomConfig"] = {"FailureThreshold": 1}
    if props.get("Tags"):
        args["Tags"] = _tags(props)
    service = sd.create_service(**args)["Service"]
    return Resource(lid, "AWS::ServiceDiscovery::Service", service["Id"],
                    {"Id": service["Id"], "Arn": service["Arn"], "Name": name})


@creates("AWS::ServiceDiscovery::Instance", handles=("ServiceId", "InstanceId", "InstanceAttributes"))
def _instance(d: Deployer, lid: str, props: dict) -> Resource:
    instance_id = str(props.get("InstanceId") or f"{d.stack.name}-{lid}")
    attributes = {str(k): str(v) for k, v in props["InstanceAttributes"].items()}
    d.client("servicediscovery").register_instance(ServiceId=props["ServiceId"], InstanceId=instance_id,
                                                   Attributes=attributes)
    return Resource(lid, "AWS::ServiceDiscovery::Instance", instance_id)
