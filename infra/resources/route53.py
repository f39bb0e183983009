"""Route 53 hosted zones and records (a custom domain's alias to its API): made in moto's Route 53, so
`list-resource-record-sets` answers them. Nothing resolves them locally: no DNS server runs."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from infra.resources.base import Resource, creates, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_NO_DNS = "no DNS locally: the zone and its records are recorded in the emulator's Route 53, nothing resolves them"


@creates("AWS::Route53::HostedZone", handles=("Name", "HostedZoneConfig", "HostedZoneTags", "VPCs"),
         ignores={"QueryLoggingConfig": _NO_DNS, "HostedZoneFeatures": _NO_DNS},
         unsupported={"DelegationSetId": "no reusable delegation sets locally"})
def _hosted_zone(d: Deployer, lid: str, props: dict) -> Resource:
    route53 = d.client("route53")
    args: dict[str, Any] = {"Name": props["Name"], "CallerReference": f"{d.stack.name}-{lid}-{uuid.uuid4().hex}"}
    comment = (props.get("HostedZoneConfig") or {}).get("Comment")
    if comment is not None:
        args["HostedZoneConfig"] = {"Comment": comment}
    vpcs = props.get("VPCs") or []
    if vpcs:
        args["VPC"] = {"VPCId": vpcs[0]["VPCId"], "VPCRegion": vpcs[0]["VPCRegion"]}
        args.setdefault("HostedZoneConfig", {})["PrivateZone"] = True
    answer = route53.create_hosted_zone(**args)
    zone_id = answer["HostedZone"]["Id"].rsplit("/", 1)[-1]
    for vpc in vpcs[1:]:
        route53.associate_vpc_with_hosted_zone(HostedZoneId=zone_id, VPC={"VPCId": vpc["VPCId"],
                                                                          "VPCRegion": vpc["VPCRegion"]})
    if props.get("HostedZoneTags"):
        route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, AddTags=[
            {"Key": k, "Value": v} for k, v in tags(props["HostedZoneTags"]).items()])
    servers = (answer.get("DelegationSet") or {}).get("NameServers", [])
    return Resource(lid, "AWS::Route53::HostedZone", zone_id, {"Id": zone_id, "NameServers": servers})


def _zone_id(d: Deployer, props: dict) -> str | None:
    """The emulator's hosted zone the records go to; None when it has none of that id or name (a zone made outside
    the template, as production templates often name one by parameter)."""
    route53 = d.client("route53")
    if props.get("HostedZoneId"):
        zone_id = str(props["HostedZoneId"]).rsplit("/", 1)[-1]
        try:
            route53.get_hosted_zone(Id=zone_id)
        except route53.exceptions.NoSuchHostedZone:
            return None
        return zone_id
    name = str(props.get("HostedZoneName") or "")
    wanted = name if name.endswith(".") else name + "."
    zones = route53.list_hosted_zones_by_name(DNSName=wanted)["HostedZones"]
    match = next((z for z in zones if z["Name"] == wanted), None)
    return None if match is None else match["Id"].rsplit("/", 1)[-1]


_RECORD = ("Name", "Type", "TTL", "ResourceRecords", "AliasTarget", "SetIdentifier", "Weight", "Region", "Failover",
           "GeoLocation", "MultiValueAnswer", "HealthCheckId", "CidrRoutingConfig", "GeoProximityLocation")


def _record(props: dict) -> dict[str, Any]:
    """A CloudFormation record set as Route 53's ResourceRecordSet."""
    record: dict[str, Any] = pick(props, "Name", "Type", "SetIdentifier", "Region", "Failover", "GeoLocation",
                                  "HealthCheckId", "CidrRoutingConfig", "GeoProximityLocation")
    if "TTL" in props:
        record["TTL"] = numeric(props["TTL"])
    if "Weight" in props:
        record["Weight"] = numeric(props["Weight"])
    if "MultiValueAnswer" in props:
        record["MultiValueAnswer"] = truthy(props["MultiValueAnswer"])
    if props.get("ResourceRecords"):
        record["ResourceRecords"] = [{"Value": str(value)} for value in props["ResourceRecords"]]
    if props.get("AliasTarget"):
        alias = props["AliasTarget"]
        record["AliasTarget"] = {"DNSName": alias["DNSName"], "HostedZoneId": alias["HostedZoneId"],
                                 "EvaluateTargetHealth": truthy(alias.get("EvaluateTargetHealth", False))}
    return record


def _change(d: Deployer, lid: str, props: dict, records: list[dict]) -> None:
    zone_id = _zone_id(d, props)
    if zone_id is None:
        zone = props.get("HostedZoneId") or props.get("HostedZoneName")
        d.warn(f"{lid}: hosted zone {zone} is not in the emulator's Route 53 (it was made outside this template): "
               f"its records are not recorded locally ({', '.join(str(r.get('Name')) for r in records)})")
        return
    comment = props.get("Comment")
    batch: dict[str, Any] = {"Changes": [{"Action": "CREATE", "ResourceRecordSet": _record(r)} for r in records]}
    if comment:
        batch["Comment"] = comment
    d.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch=batch)


@creates("AWS::Route53::RecordSet", handles=(*_RECORD, "HostedZoneId", "HostedZoneName", "Comment"))
def _record_set(d: Deployer, lid: str, props: dict) -> Resource:
    _change(d, lid, props, [props])
    return Resource(lid, "AWS::Route53::RecordSet", str(props["Name"]))


@creates("AWS::Route53::RecordSetGroup", handles=("HostedZoneId", "HostedZoneName", "RecordSets", "Comment"))
def _record_set_group(d: Deployer, lid: str, props: dict) -> Resource:
    records = props.get("RecordSets") or []
    _change(d, lid, props, records)
    group_id = f"{d.stack.name}-{lid}"
    return Resource(lid, "AWS::Route53::RecordSetGroup", group_id, {"Id": group_id})
