"""Exactly-once creates, recognised repeats, and waits for new ids: the decisions, on fakes.

The loops get a fake clock (sleeping advances it), so bounds are checked without
waiting. The provider tests use an in-process stand-in for EC2 that can lose an
answer after making the change, and answer NotFound for an id it lists.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.exactly_once import (
    TOKEN_LENGTH,
    Backoff,
    already_done,
    create_exactly_once,
    creation_token,
    delete_confirmed,
    is_transient,
    settle,
)
from provisioner.cloud.aws.instance import (
    OP_TIMEOUT,
    RUNNING,
    TERMINATED,
    WaitTarget,
    wait_for_state,
)
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.cloud.aws.orphans import sweep
from provisioner.cloud.aws.vpc import VpcProvider

from .fake_s3 import FakeS3

TAGS = {"provision:env": "dev", "provision:address": "network.main", "Name": "dev-network.main"}


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Operation",
    )


def lost_answer() -> ConnectionClosedError:
    return ConnectionClosedError(endpoint_url="http://127.0.0.1:1")


class Clock:
    """A clock that sleeping moves forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Script:
    """A callable that raises or returns the next of its outcomes, counting calls."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def clock() -> Clock:
    return Clock()


def loop_options(clock: Clock) -> dict[str, Any]:
    return {"sleep": clock.sleep, "clock": clock.time, "draw": lambda: 0.5}


# --- the token ---------------------------------------------------------------------


def test_the_token_is_the_same_for_every_attempt_of_one_create_in_one_run() -> None:
    assert creation_token(TAGS, "run-1") == creation_token(dict(TAGS), "run-1")
    assert len(creation_token(TAGS, "run-1")) == TOKEN_LENGTH <= 64


@pytest.mark.parametrize(
    "other",
    [
        ({**TAGS, "provision:env": "prod"}, "run-1"),
        ({**TAGS, "provision:address": "network.other"}, "run-1"),
        (TAGS, "run-2"),
    ],
)
def test_another_environment_address_or_run_gets_another_token(
    other: tuple[dict[str, str], str],
) -> None:
    assert creation_token(*other) != creation_token(TAGS, "run-1")


def test_without_a_run_each_create_gets_a_random_token() -> None:
    assert creation_token(TAGS, None) != creation_token(TAGS, None)
    assert creation_token({}, "run-1") != creation_token({}, "run-1")


# --- what is worth retrying -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (lost_answer(), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (client_error("InternalError", 500), True),
        (client_error("RequestLimitExceeded", 503), True),
        (client_error("Throttling", 400), True),
        (client_error("InvalidParameterValue"), False),
        (client_error("InvalidVpcID.NotFound"), False),
    ],
)
def test_throttling_5xx_and_lost_connections_are_transient(
    error: Exception, transient: bool
) -> None:
    assert is_transient(error) is transient


def test_backoff_doubles_up_to_its_cap_with_jitter_below_the_ceiling() -> None:
    backoff = Backoff(first=1.0, cap=4.0)
    assert [backoff.delay(retry, 1.0) for retry in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert [backoff.delay(retry, 0.0) for retry in range(3)] == [0.5, 1.0, 2.0]


# --- creates -------------------------------------------------------------------------


def test_a_create_whose_answer_was_lost_is_found_by_its_token_and_not_sent_again(
    clock: Clock,
) -> None:
    send, find = Script(lost_answer(), "vpc-2"), Script("vpc-1")
    assert create_exactly_once(send, find, **loop_options(clock)) == "vpc-1"
    assert (send.calls, find.calls) == (1, 1)


def test_a_create_that_was_not_made_is_sent_again_after_the_lookup(clock: Clock) -> None:
    send, find = Script(client_error("InternalError", 500), "vpc-1"), Script(None)
    assert create_exactly_once(send, find, **loop_options(clock)) == "vpc-1"
    assert (send.calls, find.calls) == (2, 1)


def test_transient_errors_give_up_after_the_attempts_with_a_last_lookup(clock: Clock) -> None:
    send, find = Script(lost_answer()), Script(None)
    with pytest.raises(ConnectionClosedError):
        create_exactly_once(send, find, backoff=Backoff(attempts=8), **loop_options(clock))
    assert send.calls == 8
    assert find.calls == 8  # before each of the 7 re-sends, and once before giving up


def test_what_the_last_attempt_made_is_adopted_rather_than_left_behind(clock: Clock) -> None:
    send, find = Script(lost_answer()), Script(None, "vpc-1")  # before the re-send; at the end
    assert create_exactly_once(send, find, backoff=Backoff(attempts=2), **loop_options(clock)) == (
        "vpc-1"
    )


def test_a_permanent_error_fails_at_once_without_a_lookup(clock: Clock) -> None:
    send, find = Script(client_error("InvalidParameterValue"), "vpc-1"), Script("vpc-0")
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        create_exactly_once(send, find, **loop_options(clock))
    assert (send.calls, find.calls) == (1, 0)


def test_a_referenced_id_not_known_yet_is_waited_for(clock: Clock) -> None:
    send = Script(client_error("InvalidVpcID.NotFound"), client_error("InvalidVpcID.NotFound"), "s")
    find = Script("never adopted")
    assert create_exactly_once(send, find, **loop_options(clock)) == "s"
    assert (send.calls, find.calls) == (3, 0)  # a NotFound made nothing to look for


def test_a_referenced_id_that_never_appears_fails_after_the_settle_bound(clock: Clock) -> None:
    send, find = Script(client_error("InvalidGroup.NotFound")), Script(None)
    with pytest.raises(ClientError, match=r"InvalidGroup\.NotFound"):
        create_exactly_once(send, find, backoff=Backoff(settle_bound=60.0), **loop_options(clock))
    assert 60.0 <= clock.now <= 60.0 + Backoff().cap


def test_a_duplicate_after_a_lost_answer_means_the_first_attempt_landed(clock: Clock) -> None:
    send = Script(lost_answer(), client_error("InvalidGroup.Duplicate"))
    find = Script(None, "sg-1")  # the tag lookup lags behind once
    landed = {"InvalidGroup.Duplicate"}
    assert create_exactly_once(send, find, landed=landed, **loop_options(clock)) == "sg-1"
    assert send.calls == 2


def test_a_duplicate_on_the_first_attempt_is_a_real_conflict(clock: Clock) -> None:
    send, find = Script(client_error("InvalidGroup.Duplicate")), Script("sg-1")
    with pytest.raises(ClientError, match="Duplicate"):
        create_exactly_once(send, find, landed={"InvalidGroup.Duplicate"}, **loop_options(clock))
    assert find.calls == 0


# --- other calls -------------------------------------------------------------------------


def test_settle_retries_the_not_found_of_a_new_id_until_it_is_known(clock: Clock) -> None:
    call = Script(client_error("InvalidSubnetID.NotFound"), "ok")
    assert settle(call, **loop_options(clock)) == "ok"
    assert call.calls == 2


@pytest.mark.parametrize("code", ["InvalidPermission.NotFound", "InvalidParameterValue"])
def test_settle_does_not_retry_what_is_not_an_unknown_id(clock: Clock, code: str) -> None:
    call = Script(client_error(code), "ok")
    with pytest.raises(ClientError, match=code):
        settle(call, **loop_options(clock))
    assert call.calls == 1


def test_settle_gives_up_after_its_bound(clock: Clock) -> None:
    call = Script(client_error("InvalidInstanceID.NotFound"))
    with pytest.raises(ClientError):
        settle(call, backoff=Backoff(settle_bound=30.0), **loop_options(clock))
    assert 30.0 <= clock.now <= 30.0 + Backoff().cap


def test_a_repeat_that_meets_its_first_attempt_is_success_in_the_wanted_state() -> None:
    already_done(
        Script(client_error("InvalidPermission.Duplicate")),
        {"InvalidPermission.Duplicate"},
        lambda: True,
    )


def test_a_repeat_error_is_raised_when_the_cloud_is_not_in_the_wanted_state() -> None:
    with pytest.raises(ClientError, match="Duplicate"):
        already_done(
            Script(client_error("InvalidPermission.Duplicate")),
            {"InvalidPermission.Duplicate"},
            lambda: False,
        )
    with pytest.raises(ClientError, match="RouteAlreadyExists"):
        already_done(Script(client_error("RouteAlreadyExists")), {"Other"}, lambda: True)


def test_a_delete_that_meets_not_found_ends_when_nothing_is_listed(clock: Clock) -> None:
    delete, listed = Script(client_error("InvalidVpcID.NotFound")), Script(False)
    delete_confirmed(delete, listed, {"InvalidVpcID.NotFound"}, **loop_options(clock))
    assert (delete.calls, listed.calls) == (1, 1)


def test_a_delete_that_meets_not_found_while_still_listed_is_retried(clock: Clock) -> None:
    delete = Script(
        client_error("InvalidVpcID.NotFound"), client_error("InvalidVpcID.NotFound"), None
    )
    listed = Script(True)
    delete_confirmed(delete, listed, {"InvalidVpcID.NotFound"}, **loop_options(clock))
    assert delete.calls == 3


def test_a_delete_that_is_refused_otherwise_fails(clock: Clock) -> None:
    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        delete_confirmed(
            Script(client_error("UnauthorizedOperation")),
            Script(True),
            {"InvalidVpcID.NotFound"},
            **loop_options(clock),
        )


# --- the bookkeeping tag ---------------------------------------------------------------------


def test_live_tags_are_read_without_the_create_token() -> None:
    described = [{"Key": "Name", "Value": "dev-x"}, {"Key": tags.TOKEN_TAG, "Value": "t"}]
    assert tags.from_aws(described) == {"Name": "dev-x"}
    assert tags.value_of(described, tags.TOKEN_TAG) == "t"


def test_a_tag_update_never_removes_the_create_token() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def delete_tags(self, **request: Any) -> None:
            self.deleted += [tag["Key"] for tag in request["Tags"]]

        def create_tags(self, **request: Any) -> None:
            return None

    ec2 = Recorder()
    tags.sync(ec2, "vpc-1", {"a": "1", tags.TOKEN_TAG: "t"}, {})
    assert ec2.deleted == ["a"]


# --- providers on an in-process EC2 ---------------------------------------------------------


class FakeEc2:
    """VPCs and key pairs in memory, with tag filters, lost answers and lagging ids."""

    def __init__(self) -> None:
        self.vpcs: dict[str, dict[str, Any]] = {}
        self.key_pairs: dict[str, dict[str, Any]] = {}  # by name
        self.lose: set[str] = set()  # operations whose next answer is lost after the change
        self.unknown: dict[str, int] = {}  # id -> NotFounds still to answer for it by id
        self.lag = 0  # NotFounds each new id gets when named by id
        self.calls: list[str] = []
        self._made = 0

    def _new_id(self, prefix: str) -> str:
        self._made += 1
        new = f"{prefix}-{self._made:017x}"
        self.unknown[new] = self.lag
        return new

    def _answer(self, operation: str, result: Any) -> Any:
        if operation in self.lose:
            self.lose.discard(operation)
            raise lost_answer()
        return result

    def _by_id(self, id_: str, code: str) -> None:
        if self.unknown.get(id_):
            self.unknown[id_] -= 1
            raise client_error(code)

    @staticmethod
    def _filtered(
        items: list[dict[str, Any]], filters: list[dict[str, Any]], id_key: str
    ) -> list[dict[str, Any]]:
        for wanted in filters:
            name, values = wanted["Name"], set(wanted["Values"])
            if name.startswith("tag:"):
                key = name.removeprefix("tag:")
                items = [i for i in items if tags.value_of(i.get("Tags"), key) in values]
            else:
                items = [i for i in items if i[id_key] in values]
        return items

    def can_paginate(self, operation: str) -> bool:
        return False

    # Methods take the API's own parameter names, as boto3 clients do.
    def create_vpc(self, **request: Any) -> Any:
        self.calls.append("create_vpc")
        vpc_id = self._new_id("vpc")
        self.vpcs[vpc_id] = {
            "VpcId": vpc_id,
            "CidrBlock": request["CidrBlock"],
            "State": "available",
            "Tags": request["TagSpecifications"][0]["Tags"],
        }
        return self._answer("create_vpc", {"Vpc": dict(self.vpcs[vpc_id])})

    def describe_vpcs(self, **request: Any) -> Any:
        for vpc_id in request.get("VpcIds", []):
            self._by_id(vpc_id, "InvalidVpcID.NotFound")
        vpcs = list(self.vpcs.values())
        return {"Vpcs": self._filtered(vpcs, request.get("Filters", []), "VpcId")}

    def delete_vpc(self, **request: Any) -> None:
        self.calls.append("delete_vpc")
        self._by_id(request["VpcId"], "InvalidVpcID.NotFound")
        if self.vpcs.pop(request["VpcId"], None) is None:
            raise client_error("InvalidVpcID.NotFound")

    def get_waiter(self, name: str) -> Any:
        fake = self

        class Waiter:
            def wait(self, **request: Any) -> None:
                fake.describe_vpcs(**request)

        return Waiter()

    def create_key_pair(self, **request: Any) -> Any:
        self.calls.append("create_key_pair")
        name = request["KeyName"]
        if name in self.key_pairs:
            raise client_error("InvalidKeyPair.Duplicate")
        pair_id = self._new_id("key")
        self.key_pairs[name] = {
            "KeyPairId": pair_id,
            "KeyName": name,
            "KeyFingerprint": f"fp-{pair_id}",
            "KeyMaterial": f"private-{pair_id}",
            "PublicKey": f"ssh-ed25519 {pair_id}",
            "Tags": request["TagSpecifications"][0]["Tags"],
        }
        return self._answer("create_key_pair", dict(self.key_pairs[name]))

    def describe_key_pairs(self, **request: Any) -> Any:
        names = request.get("KeyNames")
        pairs = [
            {k: v for k, v in pair.items() if k != "KeyMaterial"}
            for pair in self.key_pairs.values()
            if not names or pair["KeyName"] in names
        ]
        return {"KeyPairs": self._filtered(pairs, request.get("Filters", []), "KeyPairId")}

    def delete_key_pair(self, **request: Any) -> None:
        self.calls.append("delete_key_pair")
        self.key_pairs.pop(request["KeyName"], None)

    # The kinds the orphan sweep also lists: none here.
    def describe_instances(self, **request: Any) -> Any:
        return {"Reservations": []}

    def describe_route_tables(self, **request: Any) -> Any:
        return {"RouteTables": []}

    def describe_internet_gateways(self, **request: Any) -> Any:
        return {"InternetGateways": []}

    def describe_subnets(self, **request: Any) -> Any:
        return {"Subnets": []}

    def describe_security_groups(self, **request: Any) -> Any:
        return {"SecurityGroups": []}


class NoResources:
    """A service with nothing in it: every listing (paginated or not) is empty."""

    def get_paginator(self, operation: str) -> Any:
        class Pages:
            def paginate(self, **request: Any) -> list[dict[str, Any]]:
                return [{}]

        return Pages()

    def __getattr__(self, operation: str) -> Any:
        return lambda **request: {}


@pytest.fixture
def fake_ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEc2]:
    fake = FakeEc2()
    monkeypatch.setattr(clients, "_shared", lambda service, region, retrying: fake)
    monkeypatch.setenv("PROVISION_RUN_ID", "run-1")
    yield fake


def vpc_props() -> dict[str, Any]:
    return {"cidr_block": "10.0.0.0/16", "region": "us-east-1", "tags": TAGS}


def test_a_vpc_whose_create_answer_was_lost_is_adopted(fake_ec2: FakeEc2) -> None:
    fake_ec2.lose = {"create_vpc"}
    created = VpcProvider().create(vpc_props())
    assert list(fake_ec2.vpcs) == [created.id]
    assert fake_ec2.calls == ["create_vpc"]
    assert created.outs["tags"] == TAGS  # the token tag is not an output
    token = tags.value_of(fake_ec2.vpcs[created.id]["Tags"], tags.TOKEN_TAG)
    assert token == creation_token(TAGS, "run-1")


def test_a_vpc_is_not_adopted_by_its_address_alone(fake_ec2: FakeEc2) -> None:
    """The one a replacement replaces carries the same address, but another run's token."""
    old = tags.to_aws({**TAGS, tags.TOKEN_TAG: "old"})
    fake_ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[{"Tags": old}])
    fake_ec2.lose = {"create_vpc"}
    created = VpcProvider().create(vpc_props())
    assert len(fake_ec2.vpcs) == 2
    assert tags.value_of(fake_ec2.vpcs[created.id]["Tags"], tags.TOKEN_TAG) != "old"


def test_a_key_pair_whose_create_answer_was_lost_is_made_again(fake_ec2: FakeEc2) -> None:
    fake_ec2.lose = {"create_key_pair"}
    props = {"key_name": "dev-deploy", "key_type": "ed25519", "region": "us-east-1", "tags": TAGS}
    created = KeyPairProvider().create(props)
    assert fake_ec2.calls == ["create_key_pair", "delete_key_pair", "create_key_pair"]
    [pair] = fake_ec2.key_pairs.values()
    assert created.id == pair["KeyPairId"]
    assert created.outs["private_key"] == pair["KeyMaterial"]  # the key we hold opens it


def test_a_vpc_delete_is_not_believed_gone_while_it_is_listed(fake_ec2: FakeEc2) -> None:
    created = VpcProvider().create(vpc_props())
    fake_ec2.unknown[created.id] = 2
    VpcProvider().delete(created.id, created.outs)
    assert fake_ec2.vpcs == {}
    assert fake_ec2.calls.count("delete_vpc") == 3


def test_a_new_vpc_that_describes_as_unknown_is_waited_for(fake_ec2: FakeEc2) -> None:
    fake_ec2.lag = 2
    created = VpcProvider().create(vpc_props())
    assert list(fake_ec2.vpcs) == [created.id]
    assert fake_ec2.unknown[created.id] == 0  # both NotFounds were met, and waited out


def test_the_orphan_sweep_deletes_what_the_state_lacks_even_while_ids_are_new(
    fake_ec2: FakeEc2,
) -> None:
    known = VpcProvider().create(vpc_props()).id
    orphan = VpcProvider().create({**vpc_props(), "cidr_block": "10.1.0.0/16"}).id
    props = {"key_name": "dev-deploy", "key_type": "ed25519", "region": "us-east-1", "tags": TAGS}
    pair = KeyPairProvider().create(props).id
    fake_ec2.unknown[orphan] = 2  # new: its delete meets NotFound twice while it is listed
    by_service = {"ec2": fake_ec2, "s3": FakeS3()}
    swept = sweep(lambda service: by_service.get(service, NoResources()), "dev", {known})
    assert sorted(swept.deleted) == sorted([orphan, pair]) and swept.kept == {}
    assert list(fake_ec2.vpcs) == [known] and fake_ec2.key_pairs == {}


# --- waiting for an instance ------------------------------------------------------------------


class Instances:
    """describe_instances answering with the next of `states` (None: not listed) each call."""

    def __init__(self, *states: str | None) -> None:
        self.states = list(states)

    def can_paginate(self, operation: str) -> bool:
        return False

    def describe_instances(self, **request: Any) -> Any:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        if state is None:
            return {"Reservations": []}
        instance = {"InstanceId": "i-1", "State": {"Name": state}}
        return {"Reservations": [{"Instances": [instance]}]}


def wait_for(target: WaitTarget, ec2: Instances, clock: Clock, timeout: float = 5.0) -> None:
    wait_for_state(ec2, target, "i-1", {OP_TIMEOUT: timeout}, sleep=clock.sleep, clock=clock.time)


def test_an_instance_not_listed_yet_is_waited_for_until_it_runs(clock: Clock) -> None:
    wait_for(RUNNING, Instances(None, "pending", "running"), clock)
    assert clock.now == 4.0


def test_an_instance_that_stays_pending_fails_the_wait_at_the_vm_timeout(clock: Clock) -> None:
    with pytest.raises(RuntimeError, match=r"i-1 did not become running within 5s \(timed out\)"):
        wait_for(RUNNING, Instances("pending"), clock)
    assert clock.now == 5.0


def test_an_instance_that_cannot_get_there_fails_at_once(clock: Clock) -> None:
    with pytest.raises(RuntimeError, match="did not become running: it is terminated"):
        wait_for(RUNNING, Instances("terminated"), clock)
    assert clock.now == 0.0


def test_an_instance_no_longer_listed_is_terminated(clock: Clock) -> None:
    wait_for(TERMINATED, Instances("shutting-down", None), clock)
    assert clock.now == 2.0
