"""The fault proxy's answers: errors botocore reads as each service's own, and what creates made."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.parsers import create_parser
from botocore.retries.standard import RetryContext, StandardRetryConditions

from provisioner.local.faults import answers
from provisioner.local.faults.calls import Call, Service

# A read of each service, and boto3's name for its client.
PROBES = [
    (Service.EC2, "ec2", "DescribeVpcs"),
    (Service.S3, "s3", "GetBucketVersioning"),
    (Service.ROUTE53, "route53", "ListHostedZones"),
    (Service.ELBV2, "elbv2", "DescribeLoadBalancers"),
    (Service.RDS, "rds", "DescribeDBInstances"),
]


def parsed_by_botocore(
    client: str, operation: str, error: answers.ServiceError, service: Service
) -> tuple[str, bool]:
    """The error code botocore reads from the answer, and whether its standard mode retries it."""
    model = botocore.session.get_session().get_service_model(client)
    operation_model = model.operation_model(operation)
    response: dict[str, Any] = {
        "status_code": error.status,
        "headers": {},
        "body": error.payload(service),
    }
    parsed = create_parser(model.metadata["protocol"]).parse(response, operation_model.output_shape)
    context = RetryContext(
        attempt_number=1,
        operation_model=operation_model,
        parsed_response=parsed,
        http_response=AWSResponse("http://127.0.0.1/", error.status, {}, None),
    )
    return parsed["Error"]["Code"], StandardRetryConditions().is_retryable(context)


@pytest.mark.parametrize(("service", "client", "operation"), PROBES)
def test_throttles_and_server_errors_read_as_the_services_own_and_are_retried(
    service: Service, client: str, operation: str
) -> None:
    for error in (answers.throttled(service), answers.server_error(service)):
        assert parsed_by_botocore(client, operation, error, service) == (error.code, True)


@pytest.mark.parametrize(("service", "client", "operation"), PROBES)
def test_a_refusal_reads_as_its_code_and_is_not_retried(
    service: Service, client: str, operation: str
) -> None:
    refusal = answers.refused(Call(service, operation, False), "InvalidParameterValue")
    assert parsed_by_botocore(client, operation, refusal, service) == (
        "InvalidParameterValue",
        False,
    )


def test_each_service_throttles_in_its_own_words() -> None:
    codes = {service: answers.throttled(service).code for service in Service}
    assert codes == {
        Service.EC2: "RequestLimitExceeded",
        Service.S3: "SlowDown",
        Service.ROUTE53: "Throttling",
        Service.ELBV2: "Throttling",
        Service.RDS: "Throttling",
    }


def test_a_bucket_create_made_its_bucket() -> None:
    call = Call(Service.S3, "CreateBucket", True, {"Bucket": "dev-logs-3f2a"}, ("dev-logs-3f2a",))
    assert answers.made_ids(call, b"") == ("dev-logs-3f2a",)
    tagging = Call(Service.S3, "PutBucketTagging", True, {"Bucket": "dev-logs-3f2a"})
    assert answers.made_ids(tagging, b"") == ()


def test_a_zone_create_made_its_zone_and_not_its_change() -> None:
    answer = (
        b"<CreateHostedZoneResponse><HostedZone><Id>/hostedzone/JKXWBT10GFBCMZCHX0H5PB</Id>"
        b"<Name>dev.internal.</Name></HostedZone><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id>"
        b"</ChangeInfo></CreateHostedZoneResponse>"
    )
    call = Call(Service.ROUTE53, "CreateHostedZone", True)
    assert answers.made_ids(call, answer) == ("JKXWBT10GFBCMZCHX0H5PB",)


def test_a_listener_create_made_its_listener_and_not_its_load_balancer() -> None:
    listener = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/ee89/0cda"
    answer = (
        f"<CreateListenerResponse><CreateListenerResult><Listeners><member>"
        f"<ListenerArn>{listener}</ListenerArn><LoadBalancerArn>arn:lb</LoadBalancerArn>"
        f"</member></Listeners></CreateListenerResult></CreateListenerResponse>"
    ).encode()
    assert answers.made_ids(Call(Service.ELBV2, "CreateListener", True), answer) == (listener,)


def test_a_database_create_made_its_instance_and_not_its_subnet_group() -> None:
    answer = (
        b"<CreateDBInstanceResponse><CreateDBInstanceResult><DBInstance>"
        b"<DBInstanceIdentifier>dev-db</DBInstanceIdentifier><DBSubnetGroup>"
        b"<DBSubnetGroupName>dev-db-subnets</DBSubnetGroupName></DBSubnetGroup>"
        b"</DBInstance></CreateDBInstanceResult></CreateDBInstanceResponse>"
    )
    assert answers.made_ids(Call(Service.RDS, "CreateDBInstance", True), answer) == ("dev-db",)
    assert answers.made_ids(Call(Service.RDS, "ModifyDBInstance", True), answer) == ()


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            b"<Response><Errors><Error><Code>DependencyViolation</Code></Error></Errors></Response>",
            "DependencyViolation",
        ),
        (
            b"<Error><Code>BucketNotEmpty</Code><Message>not empty</Message></Error>",
            "BucketNotEmpty",
        ),
        (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchHostedZone</Code></Error>"
            b"</ErrorResponse>",
            "NoSuchHostedZone",
        ),
        (b"<CreateVpcResponse/>", None),
    ],
)
def test_the_error_code_is_read_from_every_services_error_answer(
    answer: bytes, code: str | None
) -> None:
    assert answers.error_code_of(answer) == code
