"""The fault proxy's decisions: what mutates, which ids a request names, which faults it gets."""

from __future__ import annotations

import pytest

from provisioner.local.faults.calls import Call, Service
from provisioner.local.faults.decisions import Fault, FaultDecisions, Faults, Mutation
from provisioner.local.faults.ec2 import made_ids, named_ids, not_found_code, pending_instances
from provisioner.local.faults.query import form_params, is_mutating, query_call


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ec2(action: str, *ids: str) -> Call:
    """An EC2 call naming `ids`."""
    call = query_call(
        Service.EC2, {"Action": action} | {f"VpcId.{n}": i for n, i in enumerate(ids)}
    )
    assert call is not None
    return call


def made(*names: str, action: str = "CreateVpc") -> Mutation:
    return Mutation(ec2(action), names, 0.0, 0.0, None, None)


# A mutating call of each service, and a read.
CHANGES = [
    Call(Service.EC2, "CreateTags", True),
    Call(Service.S3, "PutBucketTagging", True),
    Call(Service.ROUTE53, "ChangeResourceRecordSets", True),
    Call(Service.ELBV2, "CreateLoadBalancer", True),
    Call(Service.RDS, "DeleteDBInstance", True),
]
READS = [
    Call(Service.EC2, "DescribeVpcs", False),
    Call(Service.S3, "HeadBucket", False),
    Call(Service.ROUTE53, "ListResourceRecordSets", False),
    Call(Service.ELBV2, "DescribeLoadBalancers", False),
    Call(Service.RDS, "DescribeDBInstances", False),
]


@pytest.mark.parametrize(
    ("action", "mutating"),
    [
        ("CreateVpc", True),
        ("RunInstances", True),
        ("AuthorizeSecurityGroupIngress", True),
        ("RevokeSecurityGroupEgress", True),
        ("AttachInternetGateway", True),
        ("AssociateRouteTable", True),
        ("CreateRoute", True),
        ("CreateTags", True),
        ("DeleteTags", True),
        ("ModifySubnetAttribute", True),
        ("DeleteVpc", True),
        ("TerminateInstances", True),
        ("DetachInternetGateway", True),
        ("DisassociateRouteTable", True),
        ("DescribeInstances", False),
        ("GetConsoleOutput", False),
        ("ListImagesInRecycleBin", False),
    ],
)
def test_every_action_but_describe_get_and_list_is_mutating(action: str, mutating: bool) -> None:
    assert is_mutating(action) is mutating


def test_a_request_names_the_ids_in_its_parameters_but_not_in_filters_or_tags() -> None:
    params = form_params(
        b"Action=RunInstances&SubnetId=subnet-0123456789abcdef0"
        b"&SecurityGroupId.1=sg-11111111aaaaaaaa&KeyName=dev-deploy"
        b"&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-22222222bbbbbbbb"
        b"&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=vpc-33333333cccccccc"
        b"&ImageId=ami-12c6146b&InstanceType=t3.micro"
    )
    assert named_ids(params) == ("subnet-0123456789abcdef0", "sg-11111111aaaaaaaa", "dev-deploy")


def test_ids_inside_rule_peers_and_lists_are_named() -> None:
    params = {
        "GroupId": "sg-aaaaaaaa11111111",
        "IpPermissions.1.Groups.1.GroupId": "sg-bbbbbbbb22222222",
        "InstanceId.1": "i-cccccccc33333333",
        "KeyName.1": "prod-deploy",
    }
    assert named_ids(params) == tuple(params.values())


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("vpc-0123456789abcdef0", "InvalidVpcID.NotFound"),
        ("subnet-0123456789abcdef0", "InvalidSubnetID.NotFound"),
        ("sg-0123456789abcdef0", "InvalidGroup.NotFound"),
        ("igw-0123456789abcdef0", "InvalidInternetGatewayID.NotFound"),
        ("rtb-0123456789abcdef0", "InvalidRouteTableID.NotFound"),
        ("rtbassoc-0123456789abcdef0", "InvalidAssociationID.NotFound"),
        ("i-0123456789abcdef0", "InvalidInstanceID.NotFound"),
        ("key-0123456789abcdef0", "InvalidKeyPair.NotFound"),
        ("dev-deploy", "InvalidKeyPair.NotFound"),
    ],
)
def test_each_kind_of_id_has_its_own_not_found_code(name: str, code: str) -> None:
    assert not_found_code(name) == code


def test_a_create_made_the_id_of_its_own_kind_and_not_the_others_in_its_answer() -> None:
    answer = (
        b"<CreateSubnetResponse><subnet><subnetId>subnet-0123456789abcdef0</subnetId>"
        b"<vpcId>vpc-0123456789abcdef0</vpcId><cidrBlockAssociationSet><item><associationId>"
        b"vpc-cidr-assoc-0123456789abcdef0</associationId></item></cidrBlockAssociationSet>"
        b"</subnet></CreateSubnetResponse>"
    )
    assert made_ids("CreateSubnet", answer) == ("subnet-0123456789abcdef0",)


def test_an_instance_is_made_but_not_the_groups_and_vpc_its_answer_names() -> None:
    answer = (
        b"<RunInstancesResponse><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>"
        b"<groupSet><item><groupId>sg-0123456789abcdef0</groupId></item></groupSet>"
        b"<vpcId>vpc-0123456789abcdef0</vpcId><keyName>dev-deploy</keyName></item></instancesSet>"
        b"</RunInstancesResponse>"
    )
    assert made_ids("RunInstances", answer) == ("i-0123456789abcdef0",)


def test_a_key_pairs_answer_makes_its_id_and_its_name() -> None:
    answer = b"<r><keyPairId>key-0123456789abcdef0</keyPairId><keyName>dev-deploy</keyName></r>"
    assert made_ids("CreateKeyPair", answer) == ("key-0123456789abcdef0", "dev-deploy")


def test_changes_that_are_not_creates_make_nothing() -> None:
    answer = (
        b"<DeleteKeyPairResponse><keyPairId>key-0123456789abcdef0</keyPairId>"
        b"</DeleteKeyPairResponse>"
    )
    assert made_ids("DeleteKeyPair", answer) == ()


def test_running_instances_are_shown_pending_and_others_are_left_alone() -> None:
    running = b"<instanceState><code>16</code><name>running</name></instanceState>"
    gone = b"<instanceState><code>48</code><name>terminated</name></instanceState>"
    rewritten, count = pending_instances(running + gone + running)
    assert count == 2
    assert rewritten.count(b"<name>pending</name>") == 2 and gone in rewritten


def test_the_tags_of_a_create_are_read_from_its_tag_specifications() -> None:
    call = query_call(
        Service.EC2,
        form_params(
            b"Action=CreateVpc&TagSpecification.1.ResourceType=vpc"
            b"&TagSpecification.1.Tag.1.Key=provision%3Aaddress"
            b"&TagSpecification.1.Tag.1.Value=network.main"
            b"&TagSpecification.1.Tag.2.Key=provision%3Acreate-token"
            b"&TagSpecification.1.Tag.2.Value=abc"
        ),
    )
    assert call is not None
    mutation = Mutation(call, (), 0.0, 0.0, None, None)
    assert mutation.tags == {"provision:address": "network.main", "provision:create-token": "abc"}
    assert mutation.action == "CreateVpc" and "Action" not in mutation.params


def test_only_a_young_id_is_answered_not_found_and_it_is_counted() -> None:
    clock = Clock()
    decisions = FaultDecisions(Faults(not_found=1.0, young_for=3.0), clock)
    decisions.note_forwarded(made("vpc-0123456789abcdef0"))
    clock.now += 1.0
    young = ec2("DescribeVpcs", "vpc-0123456789abcdef0")
    assert decisions.unknown_yet(young) == "vpc-0123456789abcdef0"
    assert decisions.unknown_yet(ec2("DescribeVpcs", "vpc-ffffffffffffffff0")) is None
    clock.now += 3.0
    assert decisions.unknown_yet(young) is None
    assert decisions.counts.not_found == {"DescribeVpcs": 1}


def test_an_id_keeps_the_time_it_was_first_made() -> None:
    clock = Clock()
    decisions = FaultDecisions(Faults(not_found=1.0, young_for=3.0), clock)
    decisions.note_forwarded(made("sg-0123456789abcdef0"))
    clock.now += 5.0
    decisions.note_forwarded(made("sg-0123456789abcdef0", action="RunInstances"))
    assert decisions.unknown_yet(ec2("DeleteSecurityGroup", "sg-0123456789abcdef0")) is None


def test_only_mutating_calls_lose_their_answer_and_losses_are_counted_by_action() -> None:
    decisions = FaultDecisions(Faults(lose_answer=1.0))
    assert decisions.lose(ec2("DescribeVpcs")) is None
    assert decisions.lose(ec2("CreateVpc")) in (Fault.DROP, Fault.ERROR)
    assert decisions.lose(ec2("DeleteVpc")) in (Fault.DROP, Fault.ERROR)
    assert decisions.counts.lost == {"CreateVpc": 1, "DeleteVpc": 1}


def test_the_first_answer_of_a_named_action_is_lost_and_only_the_first() -> None:
    decisions = FaultDecisions(Faults(lose_first=frozenset({"CreateKeyPair"})))
    assert [decisions.lose(ec2("CreateKeyPair")) for _ in range(3)] == [Fault.DROP, None, None]
    assert decisions.lose(ec2("CreateVpc")) is None
    decisions.use(Faults(lose_first=frozenset({"CreateKeyPair"})))
    assert decisions.lose(ec2("CreateKeyPair")) == "drop"


def test_losses_depend_only_on_the_seed_and_the_number_of_mutating_calls() -> None:
    def losses(interleaved_reads: int) -> list[str | None]:
        decisions = FaultDecisions(Faults(lose_answer=0.2, throttle=0.1, seed=3))
        found = []
        for _ in range(30):
            for _ in range(interleaved_reads):
                decisions.decide(ec2("DescribeVpcs"))
            found.append(decisions.lose(ec2("CreateTags")))
        return found

    assert losses(0) == losses(3)
    assert 0 < sum(way is not None for way in losses(0)) < 30


def test_every_services_mutating_calls_lose_answers_by_the_same_draws() -> None:
    """The n-th mutating call's loss depends on n and the seed, not on its service."""

    def losses(calls: list[Call]) -> list[Fault | None]:
        decisions = FaultDecisions(Faults(lose_answer=0.4, seed=11))
        return [decisions.lose(call) for call in calls]

    mixed = CHANGES * 6
    assert losses(mixed) == losses([CHANGES[0]] * len(mixed))
    assert set(losses(mixed)) == {None, Fault.DROP, Fault.ERROR}


def test_no_services_reads_lose_their_answer() -> None:
    decisions = FaultDecisions(Faults(lose_answer=1.0, lose_first=frozenset({"HeadBucket"})))
    assert [decisions.lose(call) for call in READS] == [None] * len(READS)
    assert decisions.counts.lost == {}


def test_every_services_calls_are_throttled_by_the_same_draws() -> None:
    def faults(calls: list[Call]) -> list[Fault | None]:
        decisions = FaultDecisions(Faults(throttle=0.2, server_error=0.2, drop=0.2, seed=5))
        return [decisions.decide(call) for call in calls]

    mixed = (CHANGES + READS) * 4
    assert faults(mixed) == faults([READS[0]] * len(mixed))
    assert set(faults(mixed)) == {None, Fault.THROTTLE, Fault.ERROR, Fault.DROP}


def test_a_permanent_error_is_named_by_the_action_of_any_service() -> None:
    decisions = FaultDecisions(Faults(permanent={"CreateBucket": "InvalidBucketName"}))
    assert decisions.decide(Call(Service.S3, "CreateBucket", True)) is Fault.PERMANENT
    assert decisions.decide(Call(Service.S3, "DeleteBucket", True)) is None
    assert decisions.decide(None) is None  # a service the proxy does not know
    assert decisions.counts.refused == 1
    assert decisions.counts.actions == ["CreateBucket", "DeleteBucket"]


def test_only_ec2_calls_meet_a_young_ids_not_found() -> None:
    decisions = FaultDecisions(Faults(not_found=1.0, young_for=60.0))
    decisions.note_forwarded(
        Mutation(Call(Service.S3, "CreateBucket", True), ("logs",), 0, 0, None, None)
    )
    assert decisions.unknown_yet(Call(Service.S3, "PutBucketTagging", True, ids=("logs",))) is None
    decisions.note_forwarded(made("vpc-0123456789abcdef0"))
    zone = Call(Service.ROUTE53, "CreateHostedZone", True, ids=("vpc-0123456789abcdef0",))
    assert decisions.unknown_yet(zone) is None
    assert decisions.unknown_yet(ec2("DescribeVpcs", "vpc-0123456789abcdef0")) is not None
