"""Parity: what a production template declares around its APIs (fixtures/apps/custom_domains): functions in a VPC
(subnets, security groups, an internet and a NAT gateway, routes, an endpoint), an ACM certificate, a hosted zone,
and custom domain names for a REST API (base path mappings: the root and `orders`) and an HTTP API (an API mapping
`v2`) with Route 53 alias records, as SAM's `Domain` writes them. Before, the deployer refused every one of these
types, and with them the whole template.

Locally nothing resolves the names (no DNS): the data plane serves a request whose Host is a custom domain as API
Gateway does, by the domain's mappings (the longest key that begins the path), passing the path with its key (REST
`path` and `requestContext.path`, HTTP `rawPath`), the domain as `domainName`, the mapping's stage; a path no mapping
serves is API Gateway's 403 `{"message": "Forbidden"}`. The networking is recorded in the emulator's EC2 (ids
resolve, `describe-*` lists it) and isolates nothing.
"""
from __future__ import annotations

from pathlib import Path

from http_calls import call

TEMPLATE = Path(__file__).parent / "fixtures" / "apps" / "custom_domains" / "template.yaml"


def through(cloud, domain: str, path: str) -> tuple[int, dict]:
    status, body, _ = call(f"http://127.0.0.1:{cloud.rest_gateway.port}{path}", headers={"Host": domain})
    return status, body


def test_a_rest_api_is_served_under_its_custom_domain_by_base_path(cloud):
    status, seen = through(cloud, "rest.shop.example.com", "/items/7")  # the root mapping
    assert status == 200, seen
    assert seen == {"api": "rest", "path": "/items/7", "resource": "/items/{id}", "contextPath": "/items/7",
                    "stage": "Prod", "domainName": "rest.shop.example.com", "pathParameters": {"id": "7"}}
    # the longer key wins; the path keeps it, as API Gateway passes it; hosts compare without case and port
    status, seen = through(cloud, "REST.shop.example.com:443", "/orders/items/8?x=1")
    assert status == 200, seen
    assert (seen["path"], seen["contextPath"], seen["resource"], seen["pathParameters"]) == \
        ("/orders/items/8", "/orders/items/8", "/items/{id}", {"id": "8"})
    assert through(cloud, "rest.shop.example.com", "/orders/nothing") == \
        (403, {"message": "Missing Authentication Token"})
    # the API's own endpoint is unchanged: the stage in the path
    status, seen, _ = call(f"http://127.0.0.1:{cloud.rest_gateway.port}/Prod/items/7")
    assert (status, seen["path"], seen["contextPath"]) == (200, "/items/7", "/Prod/items/7")


def test_an_http_api_is_served_under_its_api_mapping_key(cloud):
    status, seen = through(cloud, "http.shop.example.com", "/v2/items/3")
    assert status == 200, seen
    assert seen == {"api": "http", "rawPath": "/v2/items/3", "routeKey": "GET /items/{id}", "stage": "$default",
                    "domainName": "http.shop.example.com", "domainPrefix": "http", "pathParameters": {"id": "3"}}
    assert through(cloud, "http.shop.example.com", "/items/3") == (403, {"message": "Forbidden"})  # no mapping
    assert through(cloud, "http.shop.example.com", "/v2/nothing") == (404, {"message": "Not Found"})


def test_the_domains_certificate_and_records_are_in_the_emulator(cloud):
    outputs = cloud.stack.outputs
    certificate = cloud.client("acm").describe_certificate(CertificateArn=outputs["CertificateArn"])["Certificate"]
    assert (certificate["DomainName"], certificate["Status"]) == ("*.shop.example.com", "ISSUED")
    v2 = cloud.client("apigatewayv2")
    [mapping] = v2.get_api_mappings(DomainName="http.shop.example.com")["Items"]
    assert (mapping["ApiId"], mapping["ApiMappingKey"], mapping["Stage"]) == (outputs["HttpApiId"], "v2", "$default")
    paths = {m["basePath"] for m in cloud.client("apigateway").get_base_path_mappings(
        domainName="rest.shop.example.com")["items"]}
    assert paths == {"(none)", "orders"}
    route53 = cloud.client("route53")
    records = {r["Name"]: r for r in route53.list_resource_record_sets(HostedZoneId=outputs["ZoneId"])
               ["ResourceRecordSets"]}
    regional = v2.get_domain_name(DomainName="http.shop.example.com")["DomainNameConfigurations"][0]
    assert records["http.shop.example.com."]["AliasTarget"]["DNSName"].rstrip(".") == \
        regional["ApiGatewayDomainName"]
    assert records["rest.shop.example.com."]["Type"] == "A"
    # a record in a zone made outside the stack is not recorded, and the deploy says so
    assert any("Z0EXTERNAL0ZONE" in warning for warning in cloud.stack.warnings)


def test_the_network_is_recorded_in_the_emulators_ec2(cloud):
    outputs = cloud.stack.outputs
    ec2 = cloud.client("ec2")
    [vpc] = ec2.describe_vpcs(VpcIds=[outputs["VpcId"]])["Vpcs"]
    assert vpc["CidrBlock"] == "10.20.0.0/16" and {"Key": "Name", "Value": "shop"} in vpc["Tags"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [outputs["VpcId"]]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in subnets) == ["10.20.0.0/24", "10.20.1.0/24", "10.20.2.0/24"]
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [outputs["VpcId"]]}])["SecurityGroups"]}
    assert outputs["DefaultSecurityGroup"] in groups
    functions = groups[outputs["FunctionSecurityGroupId"]]
    # the template's egress rule replaced the default allow-all one, as CloudFormation does
    assert [(p["IpProtocol"], p.get("FromPort")) for p in functions["IpPermissionsEgress"]] == [("tcp", 443)]
    database = next(g for g in groups.values() if g["Description"].startswith("a database"))
    [rule] = database["IpPermissions"]
    assert (rule["FromPort"], rule["UserIdGroupPairs"][0]["GroupId"]) == (5432, outputs["FunctionSecurityGroupId"])
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [outputs["VpcId"]]}])["RouteTables"]
    routes = {(r.get("DestinationCidrBlock"), bool(r.get("NatGatewayId")), r.get("GatewayId", "")[:4])
              for t in tables for r in t["Routes"]}
    assert ("0.0.0.0/0", True, "") in routes and ("0.0.0.0/0", False, "igw-") in routes
    assert ec2.describe_vpc_endpoints()["VpcEndpoints"][0]["ServiceName"] == "com.amazonaws.us-east-1.dynamodb"
