"""The creators of the deployer, one module per emulated service; importing this package registers them all.

Each creator is registered with `infra.resources.base.creates(type, handles=..., ignores=..., unsupported=...,
check=...)`: the CloudFormation properties it translates to the service's API, those it accepts with no local
effect, and notes for those it reports as unsupported. tests/infra/test_resource_schemas.py checks them against
cfn-lint's resource schemas and docs/local-cloud.md.
"""
from infra.resources import (  # noqa: F401 - imported to register
    acm,
    apigateway,
    apigatewayv2,
    awslambda,
    cloudformation,
    cloudwatch,
    cognito,
    dynamodb,
    edge,
    ec2,
    events,
    firehose,
    iam,
    kinesis,
    kms,
    logs,
    monitoring,
    pipes,
    route53,
    s3,
    scheduler,
    secretsmanager,
    servicediscovery,
    ses,
    sns,
    sqs,
    ssm,
    stepfunctions,
)
