"""The networking a serverless template declares for its functions (a VPC, its subnets, security groups, gateways,
routes, endpoints): made in moto's EC2, so their ids resolve (`Ref`, `Fn::GetAtt`, a function's `VpcConfig`) and
`aws ec2 describe-*` lists them. Nothing of it isolates anything locally: every function reaches every local
endpoint, as a function's `VpcConfig` is accepted with no local effect (infra/resources/awslambda.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from infra.resources.base import DeployError, Resource, creates, json_text, numeric, pick, tags, truthy

if TYPE_CHECKING:
    from infra.deploy import Deployer

_NO_NETWORK = "no networks locally: the resource is recorded in the emulator's EC2, nothing is routed or isolated"
_NO_IPAM = "no IP address manager locally: give the CidrBlock"


def _tagged(d: Deployer, resource_id: str, props: dict, key: str = "Tags") -> None:
    if props.get(key):
        d.client("ec2").create_tags(Resources=[resource_id],
                                    Tags=[{"Key": k, "Value": v} for k, v in tags(props[key]).items()])


@creates("AWS::EC2::VPC", handles=("CidrBlock", "EnableDnsHostnames", "EnableDnsSupport", "InstanceTenancy", "Tags"),
         unsupported={"Ipv4IpamPoolId": _NO_IPAM, "Ipv4NetmaskLength": _NO_IPAM},
         ignores={"VpcEncryptionControl": _NO_NETWORK})
def _vpc(d: Deployer, lid: str, props: dict) -> Resource:
    ec2 = d.client("ec2")
    vpc = ec2.create_vpc(CidrBlock=props["CidrBlock"], **pick(props, "InstanceTenancy"))["Vpc"]
    vpc_id = vpc["VpcId"]
    for key in ("EnableDnsSupport", "EnableDnsHostnames"):
        if key in props:
            ec2.modify_vpc_attribute(VpcId=vpc_id, **{key: {"Value": truthy(props[key])}})
    _tagged(d, vpc_id, props)
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    return Resource(lid, "AWS::EC2::VPC", vpc_id, {
        "VpcId": vpc_id, "CidrBlock": vpc["CidrBlock"],
        "CidrBlockAssociations": [a["AssociationId"] for a in vpc.get("CidrBlockAssociationSet", [])],
        "DefaultSecurityGroup": groups[0]["GroupId"] if groups else "",
        "DefaultNetworkAcl": acls[0]["NetworkAclId"] if acls else "", "Ipv6CidrBlocks": []})


@creates("AWS::EC2::Subnet", handles=("VpcId", "CidrBlock", "AvailabilityZone", "AvailabilityZoneId",
                                      "MapPublicIpOnLaunch", "Tags"),
         ignores={"AssignIpv6AddressOnCreation": _NO_NETWORK, "EnableDns64": _NO_NETWORK,
                  "EnableLniAtDeviceIndex": _NO_NETWORK, "OutpostArn": _NO_NETWORK,
                  "PrivateDnsNameOptionsOnLaunch": _NO_NETWORK},
         unsupported={"Ipv4IpamPoolId": _NO_IPAM, "Ipv4NetmaskLength": _NO_IPAM,
                      "Ipv6CidrBlock": "no IPv6 subnets locally", "Ipv6IpamPoolId": _NO_IPAM,
                      "Ipv6Native": "no IPv6 subnets locally", "Ipv6NetmaskLength": _NO_IPAM})
def _subnet(d: Deployer, lid: str, props: dict) -> Resource:
    ec2 = d.client("ec2")
    if "CidrBlock" not in props:
        raise DeployError(f"{lid}: a subnet needs a CidrBlock locally (no IP address manager)")
    subnet = ec2.create_subnet(VpcId=props["VpcId"], CidrBlock=props["CidrBlock"],
                               **pick(props, "AvailabilityZone", "AvailabilityZoneId"))["Subnet"]
    subnet_id = subnet["SubnetId"]
    if truthy(props.get("MapPublicIpOnLaunch", False)):
        ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    _tagged(d, subnet_id, props)
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
    association = next((a["NetworkAclAssociationId"] for acl in acls["NetworkAcls"]
                        for a in acl.get("Associations", []) if a.get("SubnetId") == subnet_id), "")
    return Resource(lid, "AWS::EC2::Subnet", subnet_id, {
        "SubnetId": subnet_id, "VpcId": subnet["VpcId"], "CidrBlock": subnet["CidrBlock"],
        "AvailabilityZone": subnet["AvailabilityZone"], "AvailabilityZoneId": subnet.get("AvailabilityZoneId", ""),
        "NetworkAclAssociationId": association, "Ipv6CidrBlocks": [], "OutpostArn": ""})


def _permission(rule: dict, peer: str) -> dict[str, Any]:
    """A CloudFormation ingress/egress rule as EC2's IpPermissions entry; `peer` names the other group's key."""
    protocol = str(rule["IpProtocol"])
    permission: dict[str, Any] = {"IpProtocol": protocol}
    if protocol not in ("-1", "all"):
        for key in ("FromPort", "ToPort"):
            if key in rule:
                permission[key] = numeric(rule[key])
    if "CidrIp" in rule:
        permission["IpRanges"] = [{"CidrIp": rule["CidrIp"], **pick(rule, "Description")}]
    if "CidrIpv6" in rule:
        permission["Ipv6Ranges"] = [{"CidrIpv6": rule["CidrIpv6"], **pick(rule, "Description")}]
    prefix = rule.get("SourcePrefixListId") or rule.get("DestinationPrefixListId")
    if prefix:
        permission["PrefixListIds"] = [{"PrefixListId": prefix, **pick(rule, "Description")}]
    if rule.get(peer):
        permission["UserIdGroupPairs"] = [{"GroupId": rule[peer], **pick(rule, "Description")}]
    return permission


def _authorize(d: Deployer, group_id: str, ingress: list[dict], egress: list[dict]) -> None:
    ec2 = d.client("ec2")
    if ingress:
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=[_permission(r, "SourceSecurityGroupId") for r in ingress])
    if egress:
        ec2.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=[_permission(r, "DestinationSecurityGroupId") for r in egress])


@creates("AWS::EC2::SecurityGroup", handles=("GroupDescription", "GroupName", "VpcId", "SecurityGroupIngress",
                                             "SecurityGroupEgress", "Tags"))
def _security_group(d: Deployer, lid: str, props: dict) -> Resource:
    ec2 = d.client("ec2")
    name = d.name_for(lid, props, "GroupName", limit=255)
    group_id = ec2.create_security_group(GroupName=name, Description=props["GroupDescription"],
                                         **pick(props, "VpcId"))["GroupId"]
    egress = props.get("SecurityGroupEgress") or []
    if egress and props.get("VpcId"):  # rules given replace the default allow-all egress, as CloudFormation does
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    _authorize(d, group_id, props.get("SecurityGroupIngress") or [], egress)
    _tagged(d, group_id, props)
    # Ref: the id of a VPC's group, the name of an EC2-Classic (default VPC) one, as CloudFormation answers
    return Resource(lid, "AWS::EC2::SecurityGroup", group_id if props.get("VpcId") else name,
                    {"GroupId": group_id, "VpcId": props.get("VpcId", "")})


_RULE = ("CidrIp", "CidrIpv6", "Description", "FromPort", "GroupId", "IpProtocol", "ToPort")


@creates("AWS::EC2::SecurityGroupIngress", handles=(*_RULE, "GroupName", "SourcePrefixListId",
                                                    "SourceSecurityGroupId"),
         ignores={"SourceSecurityGroupName": _NO_NETWORK, "SourceSecurityGroupOwnerId": _NO_NETWORK})
def _ingress(d: Deployer, lid: str, props: dict) -> Resource:
    group_id = props.get("GroupId") or _group_by_name(d, props["GroupName"])
    _authorize(d, group_id, [props], [])
    return Resource(lid, "AWS::EC2::SecurityGroupIngress", f"sgr-{lid.lower()}", {"Id": f"sgr-{lid.lower()}"})


@creates("AWS::EC2::SecurityGroupEgress", handles=(*_RULE, "DestinationPrefixListId", "DestinationSecurityGroupId"))
def _egress(d: Deployer, lid: str, props: dict) -> Resource:
    _authorize(d, props["GroupId"], [], [props])
    return Resource(lid, "AWS::EC2::SecurityGroupEgress", f"sgr-{lid.lower()}", {"Id": f"sgr-{lid.lower()}"})


def _group_by_name(d: Deployer, name: str) -> str:
    groups = d.client("ec2").describe_security_groups(GroupNames=[name])["SecurityGroups"]
    return groups[0]["GroupId"]


@creates("AWS::EC2::InternetGateway", handles=("Tags",))
def _internet_gateway(d: Deployer, lid: str, props: dict) -> Resource:
    gateway_id = d.client("ec2").create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    _tagged(d, gateway_id, props)
    return Resource(lid, "AWS::EC2::InternetGateway", gateway_id, {"InternetGatewayId": gateway_id})


@creates("AWS::EC2::VPCGatewayAttachment", handles=("VpcId", "InternetGatewayId"),
         unsupported={"VpnGatewayId": "no VPN gateways locally"})
def _gateway_attachment(d: Deployer, lid: str, props: dict) -> Resource:
    d.client("ec2").attach_internet_gateway(InternetGatewayId=props["InternetGatewayId"], VpcId=props["VpcId"])
    return Resource(lid, "AWS::EC2::VPCGatewayAttachment", f"IGW|{props['VpcId']}", {"AttachmentType": "IGW"})


@creates("AWS::EC2::RouteTable", handles=("VpcId", "Tags"))
def _route_table(d: Deployer, lid: str, props: dict) -> Resource:
    table_id = d.client("ec2").create_route_table(VpcId=props["VpcId"])["RouteTable"]["RouteTableId"]
    _tagged(d, table_id, props)
    return Resource(lid, "AWS::EC2::RouteTable", table_id, {"RouteTableId": table_id})


_TARGETS = ("GatewayId", "NatGatewayId", "InstanceId", "NetworkInterfaceId", "VpcPeeringConnectionId",
            "TransitGatewayId", "VpcEndpointId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId")


@creates("AWS::EC2::Route", handles=("RouteTableId", "DestinationCidrBlock", "DestinationIpv6CidrBlock",
                                     "DestinationPrefixListId", *_TARGETS),
         unsupported={"CoreNetworkArn": "no Cloud WAN locally", "OdbNetworkArn": "no Oracle Database@AWS locally"})
def _route(d: Deployer, lid: str, props: dict) -> Resource:
    destination = pick(props, "DestinationCidrBlock", "DestinationIpv6CidrBlock", "DestinationPrefixListId")
    d.client("ec2").create_route(RouteTableId=props["RouteTableId"], **destination, **pick(props, *_TARGETS))
    cidr = props.get("DestinationCidrBlock") or props.get("DestinationIpv6CidrBlock") or \
        props.get("DestinationPrefixListId")
    return Resource(lid, "AWS::EC2::Route", f"{props['RouteTableId']}|{cidr}", {"CidrBlock": cidr})


@creates("AWS::EC2::SubnetRouteTableAssociation", handles=("RouteTableId", "SubnetId"))
def _route_table_association(d: Deployer, lid: str, props: dict) -> Resource:
    association = d.client("ec2").associate_route_table(RouteTableId=props["RouteTableId"],
                                                        SubnetId=props["SubnetId"])["AssociationId"]
    return Resource(lid, "AWS::EC2::SubnetRouteTableAssociation", association, {"Id": association})


@creates("AWS::EC2::EIP", handles=("Domain", "Tags"),
         ignores={"NetworkBorderGroup": _NO_NETWORK, "PublicIpv4Pool": _NO_NETWORK},
         unsupported={"Address": "a given address cannot be recovered locally", "InstanceId": "no instances locally",
                      "IpamPoolId": _NO_IPAM, "TransferAddress": "no address transfers locally"})
def _eip(d: Deployer, lid: str, props: dict) -> Resource:
    address = d.client("ec2").allocate_address(Domain=props.get("Domain", "vpc"))
    _tagged(d, address["AllocationId"], props)
    return Resource(lid, "AWS::EC2::EIP", address["PublicIp"],
                    {"AllocationId": address["AllocationId"], "PublicIp": address["PublicIp"]})


@creates("AWS::EC2::NatGateway", handles=("SubnetId", "AllocationId", "ConnectivityType", "Tags"),
         ignores={"MaxDrainDurationSeconds": _NO_NETWORK, "PrivateIpAddress": _NO_NETWORK,
                  "SecondaryAllocationIds": _NO_NETWORK, "SecondaryPrivateIpAddressCount": _NO_NETWORK,
                  "SecondaryPrivateIpAddresses": _NO_NETWORK},
         unsupported={"AvailabilityMode": "regional NAT gateways are not emulated: give a SubnetId",
                      "AvailabilityZoneAddresses": "regional NAT gateways are not emulated: give a SubnetId",
                      "VpcId": "regional NAT gateways are not emulated: give a SubnetId"})
def _nat_gateway(d: Deployer, lid: str, props: dict) -> Resource:
    gateway = d.client("ec2").create_nat_gateway(SubnetId=props["SubnetId"],
                                                 **pick(props, "AllocationId", "ConnectivityType"))["NatGateway"]
    _tagged(d, gateway["NatGatewayId"], props)
    return Resource(lid, "AWS::EC2::NatGateway", gateway["NatGatewayId"], {"NatGatewayId": gateway["NatGatewayId"]})


@creates("AWS::EC2::VPCEndpoint", handles=("VpcId", "ServiceName", "VpcEndpointType", "SubnetIds", "SecurityGroupIds",
                                           "RouteTableIds", "PolicyDocument", "PrivateDnsEnabled", "Tags"),
         ignores={"DnsOptions": _NO_NETWORK, "IpAddressType": _NO_NETWORK, "ServiceRegion": _NO_NETWORK},
         unsupported={"ResourceConfigurationArn": "no VPC Lattice locally",
                      "ServiceNetworkArn": "no VPC Lattice locally"})
def _vpc_endpoint(d: Deployer, lid: str, props: dict) -> Resource:
    args: dict[str, Any] = {"VpcId": props["VpcId"], "ServiceName": props["ServiceName"],
                            "VpcEndpointType": props.get("VpcEndpointType", "Gateway"),
                            **pick(props, "SubnetIds", "SecurityGroupIds", "RouteTableIds")}
    if "PolicyDocument" in props:
        policy = props["PolicyDocument"]
        args["PolicyDocument"] = json_text(policy)
    if "PrivateDnsEnabled" in props:
        args["PrivateDnsEnabled"] = truthy(props["PrivateDnsEnabled"])
    endpoint = d.client("ec2").create_vpc_endpoint(**args)["VpcEndpoint"]
    endpoint_id = endpoint["VpcEndpointId"]
    _tagged(d, endpoint_id, props)
    return Resource(lid, "AWS::EC2::VPCEndpoint", endpoint_id, {
        "Id": endpoint_id, "CreationTimestamp": str(endpoint.get("CreationTimestamp", "")),
        "DnsEntries": [f"{e['DnsName']}" for e in endpoint.get("DnsEntries", [])],
        "NetworkInterfaceIds": endpoint.get("NetworkInterfaceIds", [])})
