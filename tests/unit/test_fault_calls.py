"""The fault proxy recognises each call as the local cloud receives it: service, action, mutating.

The request shapes are those boto3 1.44 sent to a moto server (path-style S3, as
boto3 addresses buckets at a custom endpoint without being told).
"""

from __future__ import annotations

import pytest

from provisioner.local.faults.calls import Call, Request, Service
from provisioner.local.faults.recognise import recognise

VPC = "vpc-e56818563dc43507c"
ZONE = "JKXWBT10GFBCMZCHX0H5PB"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/dev-web/ee89918f9084a377"
S3_XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
R53_XMLNS = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"'


def signed(scope: str, line: str, body: str = "", **headers: str) -> Request:
    """A request (`line` is its method and target) as boto3 signs it for the service `scope`."""
    method, target = line.split(" ", 1)
    authorization = (
        f"AWS4-HMAC-SHA256 Credential=AKIDTEST/20261130/us-east-1/{scope}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123abcd"
    )
    named = {key.replace("_", "-").lower(): value for key, value in headers.items()}
    base = {"host": "127.0.0.1:39155", "authorization": authorization}
    return Request(method, target, base | named, body.encode())


def call_of(request: Request) -> Call:
    call = recognise(request)
    assert call is not None
    return call


VERSIONS = {"ec2": "2016-11-15", "elasticloadbalancing": "2015-12-01", "rds": "2014-10-31"}


def s3_xml(root: str, inner: str = "") -> str:
    return f"<{root} {S3_XMLNS}>{inner}</{root}>"


def r53_xml(action: str, inner: str = "") -> str:
    return f"<{action}Request {R53_XMLNS}>{inner}</{action}Request>"


TAG = "<Tag><Key>a</Key><Value>b</Value></Tag>"
ZONE_VPC = f"<VPC><VPCRegion>us-east-1</VPCRegion><VPCId>{VPC}</VPCId></VPC>"
ZONE_CREATE = r53_xml(
    "CreateHostedZone",
    f"<Name>dev.internal</Name><CallerReference>ref-1</CallerReference>{ZONE_VPC}",
)
ZONE_PATH = f"/2013-04-01/hostedzone/{ZONE}"
# (method and target, body, action, mutating)
BUCKET_CALLS = [
    ("PUT /exp-bucket", "", "CreateBucket", True),
    ("HEAD /exp-bucket", "", "HeadBucket", False),
    (
        "PUT /exp-bucket?versioning",
        s3_xml("VersioningConfiguration", "<Status>Enabled</Status>"),
        "PutBucketVersioning",
        True,
    ),
    ("GET /exp-bucket?versioning", "", "GetBucketVersioning", False),
    (
        "PUT /exp-bucket?publicAccessBlock",
        s3_xml("PublicAccessBlockConfiguration", "<BlockPublicAcls>true</BlockPublicAcls>"),
        "PutPublicAccessBlock",
        True,
    ),
    ("GET /exp-bucket?publicAccessBlock", "", "GetPublicAccessBlock", False),
    ("DELETE /exp-bucket?publicAccessBlock", "", "DeletePublicAccessBlock", True),
    (
        "PUT /exp-bucket?tagging",
        s3_xml("Tagging", f"<TagSet>{TAG}</TagSet>"),
        "PutBucketTagging",
        True,
    ),
    ("GET /exp-bucket?tagging", "", "GetBucketTagging", False),
    ("PUT /exp-bucket?policy", '{"Version": "2012-10-17"}', "PutBucketPolicy", True),
    ("PUT /exp-bucket/dir/a.txt", "hello Action=CreateVpc", "PutObject", True),
    ("GET /exp-bucket/dir/a.txt", "", "GetObject", False),
    ("GET /exp-bucket?list-type=2&encoding-type=url", "", "ListObjectsV2", False),
    ("GET /exp-bucket?versions&encoding-type=url", "", "ListObjectVersions", False),
    (
        "POST /exp-bucket?delete",
        s3_xml("Delete", "<Object><Key>dir/a.txt</Key></Object>"),
        "DeleteObjects",
        True,
    ),
    ("DELETE /exp-bucket/dir/a.txt", "", "DeleteObject", True),
    ("DELETE /exp-bucket", "", "DeleteBucket", True),
    ("GET /", "", "ListBuckets", False),
    ("POST /exp-bucket/big.bin?uploads", "", "CreateMultipartUpload", True),
    ("PUT /exp-bucket/big.bin?partNumber=1&uploadId=u1", "data", "UploadPart", True),
    ("GET /exp-bucket/big.bin?uploadId=u1", "", "ListParts", False),
    ("DELETE /exp-bucket/big.bin?uploadId=u1", "", "AbortMultipartUpload", True),
]
ZONE_CALLS = [
    ("POST /2013-04-01/hostedzone", ZONE_CREATE, "CreateHostedZone", True),
    (f"GET {ZONE_PATH}", "", "GetHostedZone", False),
    (
        f"POST /2013-04-01/tags/hostedzone/{ZONE}",
        r53_xml("ChangeTagsForResource", f"<AddTags>{TAG}</AddTags>"),
        "ChangeTagsForResource",
        True,
    ),
    (f"GET /2013-04-01/tags/hostedzone/{ZONE}", "", "ListTagsForResource", False),
    (
        "POST /2013-04-01/tags/hostedzone",
        r53_xml("ListTagsForResources"),
        "ListTagsForResources",
        False,
    ),
    (
        f"POST {ZONE_PATH}/rrset/",
        r53_xml("ChangeResourceRecordSets"),
        "ChangeResourceRecordSets",
        True,
    ),
    (
        f"POST {ZONE_PATH}/rrset",
        r53_xml("ChangeResourceRecordSets"),
        "ChangeResourceRecordSets",
        True,
    ),
    (f"GET {ZONE_PATH}/rrset", "", "ListResourceRecordSets", False),
    ("GET /2013-04-01/hostedzone", "", "ListHostedZones", False),
    ("GET /2013-04-01/hostedzonesbyname?dnsname=dev.internal", "", "ListHostedZonesByName", False),
    (
        f"POST {ZONE_PATH}/associatevpc",
        r53_xml("AssociateVPCWithHostedZone", ZONE_VPC),
        "AssociateVPCWithHostedZone",
        True,
    ),
    (
        f"POST {ZONE_PATH}/disassociatevpc",
        r53_xml("DisassociateVPCFromHostedZone", ZONE_VPC),
        "DisassociateVPCFromHostedZone",
        True,
    ),
    (f"DELETE {ZONE_PATH}", "", "DeleteHostedZone", True),
    ("GET /2013-04-01/change/C2682N5HXP0BZ4", "", "GetChange", False),
]
# (the service in the credential scope, action, its other parameters, mutating)
QUERY_CALLS = [
    ("ec2", "CreateVpc", "CidrBlock=10.9.0.0%2F16", True),
    ("ec2", "DescribeVpcs", f"VpcId.1={VPC}", False),
    ("elasticloadbalancing", "CreateLoadBalancer", "Name=web&Subnets.member.1=subnet-6b1583", True),
    ("elasticloadbalancing", "DescribeLoadBalancers", "", False),
    ("elasticloadbalancing", "CreateTargetGroup", "Name=web&Protocol=HTTP&Port=80", True),
    ("elasticloadbalancing", "AddTags", "Tags.member.1.Key=a&Tags.member.1.Value=b", True),
    ("elasticloadbalancing", "DescribeTags", "", False),
    ("elasticloadbalancing", "DeleteLoadBalancer", "LoadBalancerArn=arn%3Aaws", True),
    ("rds", "CreateDBSubnetGroup", "DBSubnetGroupName=dev-db", True),
    ("rds", "DescribeDBInstances", "", False),
    ("rds", "ModifyDBInstance", "DBInstanceIdentifier=dev-db&DBInstanceClass=db.t3.small", True),
    ("rds", "ListTagsForResource", "ResourceName=arn%3Aaws%3Ards", False),
    ("rds", "DownloadDBLogFilePortion", "DBInstanceIdentifier=dev-db", False),
    ("rds", "DeleteDBInstance", "DBInstanceIdentifier=dev-db", True),
]


def query(scope: str, action: str, params: str = "") -> Request:
    """A Query request as boto3 sends it: a form body, `Action` and `Version` first."""
    body = f"Action={action}&Version={VERSIONS[scope]}" + (f"&{params}" if params else "")
    return signed(scope, "POST /", body)


@pytest.mark.parametrize(("line", "body", "action", "mutating"), BUCKET_CALLS)
def test_s3_calls_are_told_by_method_path_and_query_markers(
    line: str, body: str, action: str, mutating: bool
) -> None:
    call = call_of(signed("s3", line, body))
    assert (call.service, call.action, call.mutating) == (Service.S3, action, mutating)


@pytest.mark.parametrize(("line", "body", "action", "mutating"), ZONE_CALLS)
def test_route53_calls_are_told_by_method_and_path(
    line: str, body: str, action: str, mutating: bool
) -> None:
    call = call_of(signed("route53", line, body))
    assert (call.service, call.action, call.mutating) == (Service.ROUTE53, action, mutating)


@pytest.mark.parametrize(("scope", "action", "params", "mutating"), QUERY_CALLS)
def test_query_calls_are_told_by_their_credential_scope_and_action(
    scope: str, action: str, params: str, mutating: bool
) -> None:
    call = call_of(query(scope, action, params))
    assert (call.service, call.action, call.mutating) == (Service(scope), action, mutating)


def test_a_copy_is_told_from_a_put_by_its_copy_source_header() -> None:
    copied = signed("s3", "PUT /b/k2", x_amz_copy_source="b/k1")
    assert call_of(copied).action == "CopyObject"


def test_a_virtual_hosted_bucket_is_read_from_the_host_name() -> None:
    request = signed("s3", "PUT /?versioning", "<VersioningConfiguration/>")
    virtual = Request(
        request.method, request.target, {**request.headers, "host": "logs.localhost:4566"}, b""
    )
    call = call_of(virtual)
    assert (call.action, call.params["Bucket"]) == ("PutBucketVersioning", "logs")


def test_services_the_proxy_does_not_know_and_unsigned_requests_are_passed_through() -> None:
    tagging = signed("tagging", "POST /", '{"TagFilters": []}', x_amz_target="GetResources")
    assert recognise(tagging) is None
    assert recognise(Request("POST", "/", {}, b"Action=CreateVpc&Version=2016-11-15")) is None
    assert recognise(Request("POST", "/moto-api/reset", {}, b"")) is None


def test_a_presigned_url_names_its_service_in_its_query() -> None:
    credential = "AKID%2F20261130%2Fus-east-1%2Fs3%2Faws4_request"
    target = f"/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}"
    assert call_of(Request("GET", target, {}, b"")).action == "GetObject"


def test_an_object_is_named_by_its_bucket_and_its_data_is_not_read() -> None:
    call = call_of(signed("s3", "PUT /exp-bucket/dir/a%20b.txt", "<Tagging><TagSet/></Tagging>"))
    assert call.params == {"Bucket": "exp-bucket", "Key": "dir/a b.txt"}
    assert call.ids == ("exp-bucket",)


def test_bucket_tags_are_read_from_the_tagging_body() -> None:
    body = (
        f"<Tagging {S3_XMLNS}><TagSet><Tag><Key>provision:env</Key><Value>dev</Value></Tag>"
        "<Tag><Key>provision:address</Key><Value>bucket.logs</Value></Tag></TagSet></Tagging>"
    )
    call = call_of(signed("s3", "PUT /exp-bucket?tagging", body))
    assert call.params["Tagging.TagSet.2.Key"] == "provision:address"
    assert call.tags == {"provision:env": "dev", "provision:address": "bucket.logs"}


def test_a_zone_create_names_its_vpc_and_carries_its_caller_reference() -> None:
    call = call_of(signed("route53", *ZONE_CALLS[0][:2]))
    assert call.ids == (VPC,)
    assert call.params["CallerReference"] == "ref-1"
    assert call.params["VPC.VPCId"] == VPC


def test_a_record_change_names_its_zone_and_its_changes() -> None:
    body = (
        f"<ChangeResourceRecordSetsRequest {R53_XMLNS}><ChangeBatch><Changes><Change>"
        "<Action>DELETE</Action><ResourceRecordSet><Name>web-0.dev.internal</Name><Type>A</Type>"
        "<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>10.9.1.10</Value></ResourceRecord>"
        "</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>"
        "</ChangeResourceRecordSetsRequest>"
    )
    call = call_of(signed("route53", f"POST {ZONE_PATH}/rrset/", body))
    assert call.ids == (ZONE,)
    assert call.params["ChangeBatch.Changes.1.Action"] == "DELETE"
    assert call.params["ChangeBatch.Changes.1.ResourceRecordSet.Name"] == "web-0.dev.internal"
    rrs = "ChangeBatch.Changes.1.ResourceRecordSet.ResourceRecords.1.Value"
    assert call.params[rrs] == "10.9.1.10"


def test_zone_tags_are_read_and_the_zone_is_named_by_its_id() -> None:
    call = call_of(signed("route53", *ZONE_CALLS[2][:2]))
    assert call.ids == (ZONE,)
    assert call.tags == {"a": "b"}


def test_a_load_balancer_names_its_subnets_and_arns_but_not_its_tags() -> None:
    body = (
        "Action=CreateListener&Version=2015-12-01&LoadBalancerArn=" + LB.replace(":", "%3A")
        + "&DefaultActions.member.1.TargetGroupArn=arn%3Atg&Tags.member.1.Key=provision%3Aenv"
        "&Tags.member.1.Value=arn%3Anot-a-reference"
    )  # fmt: skip
    call = call_of(signed("elasticloadbalancing", "POST /", body))
    assert call.ids == (LB, "arn:tg")
    assert call.tags == {"provision:env": "arn:not-a-reference"}


def test_a_database_names_its_identifier_and_group_and_hides_its_password() -> None:
    body = (
        "Action=CreateDBInstance&Version=2014-10-31&DBInstanceIdentifier=dev-db"
        "&MasterUserPassword=notsecret123&DBSubnetGroupName=dev-db-subnets"
        "&Tags.Tag.1.Key=provision%3Aenv&Tags.Tag.1.Value=dev"
    )
    call = call_of(signed("rds", "POST /", body))
    assert call.ids == ("dev-db", "dev-db-subnets")
    assert call.tags == {"provision:env": "dev"}
    assert "notsecret123" not in repr(call)
    assert "Action" not in call.params and "Version" not in call.params
