"""Route53 providers on an in-process Route53: property tables, exactly-once zones, records.

The stand-in behaves as AWS does where the local cloud does not: a repeated
CallerReference is refused with HostedZoneAlreadyExists, and deleting a record
needs its current values. It can lose an answer after making the change, and
list a new zone only after a few listings.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.exactly_once import creation_token
from provisioner.cloud.aws.orphans import sweep
from provisioner.cloud.aws.route53 import (
    HostedZoneProvider,
    RecordSetProvider,
    caller_reference_prefix,
)

from .empty_service import EmptyService

TAGS = {"provision:env": "dev", "provision:address": "dns.internal", "Name": "dev-dns.internal"}
ZONE = {"domain": "dev.internal", "vpc_id": "vpc-1", "region": "us-east-1", "tags": TAGS}


def client_error(code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "Operation",
    )


class Pages:
    """A paginator of one page."""

    def __init__(self, operation: Any) -> None:
        self.operation = operation

    def paginate(self, **request: Any) -> list[dict[str, Any]]:
        return [self.operation(**request)]


class FakeRoute53:
    """Zones (with their records and tags) in memory."""

    def __init__(self) -> None:
        self.zones: dict[str, dict[str, Any]] = {}
        self.records: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.lose: set[str] = set()  # operations whose next answer is lost after the change
        self.unlisted_for = 0  # listings that do not show a new zone yet
        self.hidden: dict[str, int] = {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def _answer(self, operation: str, result: Any) -> Any:
        self.calls.append(operation)
        if operation in self.lose:
            self.lose.discard(operation)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1:1")
        return result

    def _zone(self, zone_id: str) -> dict[str, Any]:
        found = self.zones.get(zone_id.removeprefix("/hostedzone/"))
        if found is None:
            raise client_error("NoSuchHostedZone")
        return found

    def get_paginator(self, operation: str) -> Pages:
        return Pages(getattr(self, operation))

    def create_hosted_zone(self, **request: Any) -> Any:
        reference = request["CallerReference"]
        if any(z["CallerReference"] == reference for z in self.zones.values()):
            raise client_error("HostedZoneAlreadyExists")
        zone_id = f"Z{next(self._ids):05d}"
        name = request["Name"] + "."
        self.zones[zone_id] = {
            "Id": f"/hostedzone/{zone_id}",
            "Name": name,
            "CallerReference": reference,
            "VPC": request["VPC"],
        }
        self.records[zone_id] = {
            (name, "SOA"): {"Name": name, "Type": "SOA", "TTL": 900, "ResourceRecords": []},
            (name, "NS"): {"Name": name, "Type": "NS", "TTL": 900, "ResourceRecords": []},
        }
        self.hidden[zone_id] = self.unlisted_for
        return self._answer("create_hosted_zone", {"HostedZone": dict(self.zones[zone_id])})

    def list_hosted_zones(self, **request: Any) -> Any:
        shown = []
        for zone_id, zone in self.zones.items():
            if self.hidden.get(zone_id):
                self.hidden[zone_id] -= 1
                continue
            shown.append({k: v for k, v in zone.items() if k != "VPC"})
        return {"HostedZones": shown}

    def get_hosted_zone(self, **request: Any) -> Any:
        zone = self._zone(request["Id"])
        return {"HostedZone": {"Id": zone["Id"], "Name": zone["Name"]}, "VPCs": [zone["VPC"]]}

    def delete_hosted_zone(self, **request: Any) -> Any:
        zone_id = self._zone(request["Id"])["Id"].removeprefix("/hostedzone/")
        if any(key[1] not in ("SOA", "NS") for key in self.records[zone_id]):
            raise client_error("HostedZoneNotEmpty")
        del self.zones[zone_id]
        return self._answer("delete_hosted_zone", {})

    def list_resource_record_sets(self, **request: Any) -> Any:
        zone_id = self._zone(request["HostedZoneId"])["Id"].removeprefix("/hostedzone/")
        return {"ResourceRecordSets": [dict(r) for r in self.records[zone_id].values()]}

    def change_resource_record_sets(self, **request: Any) -> Any:
        zone_id = self._zone(request["HostedZoneId"])["Id"].removeprefix("/hostedzone/")
        records = self.records[zone_id]
        for change in request["ChangeBatch"]["Changes"]:
            record = dict(change["ResourceRecordSet"])
            key = (record["Name"].removesuffix(".") + ".", record["Type"])
            record["Name"] = key[0]
            if change["Action"] == "UPSERT":
                records[key] = record
            elif records.get(key) != record:  # AWS deletes only the current values
                raise client_error("InvalidChangeBatch")
            else:
                del records[key]
        return self._answer("change_resource_record_sets", {"ChangeInfo": {"Status": "PENDING"}})

    def change_tags_for_resource(self, **request: Any) -> Any:
        tags = self.tags.setdefault(request["ResourceId"], {})
        tags.update({t["Key"]: t["Value"] for t in request.get("AddTags", [])})
        for key in request.get("RemoveTagKeys", []):
            tags.pop(key, None)
        return self._answer("change_tags_for_resource", {})

    def list_tags_for_resource(self, **request: Any) -> Any:
        zone_id = self._zone(request["ResourceId"])["Id"].removeprefix("/hostedzone/")
        tags = [{"Key": k, "Value": v} for k, v in self.tags.get(zone_id, {}).items()]
        return {"ResourceTagSet": {"ResourceId": zone_id, "Tags": tags}}

    def live_value(self, zone_id: str, name: str) -> str:
        [record] = [r for k, r in self.records[zone_id].items() if k[0] == name + "."]
        return str(record["ResourceRecords"][0]["Value"])


@pytest.fixture
def route53(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRoute53]:
    fake = FakeRoute53()
    monkeypatch.setattr(clients, "_shared", lambda service, region, retrying: fake)
    monkeypatch.setenv("PROVISION_RUN_ID", "run-1")
    yield fake


def record_props(zone_id: str, name: str = "web-0", value: str = "10.0.1.5") -> dict[str, Any]:
    return {
        "zone_id": zone_id,
        "fqdn": f"{name}.dev.internal",
        "record_type": "A",
        "value": value,
        "ttl": 300,
        "region": "us-east-1",
    }


# --- property tables ---------------------------------------------------------------------


def test_a_zone_is_replaced_for_a_new_name_vpc_or_region_and_updated_for_tags() -> None:
    assert HostedZoneProvider.replace_on == ("domain", "vpc_id", "region")
    assert HostedZoneProvider.inputs == ("domain", "vpc_id", "region", "tags")
    assert (HostedZoneProvider.id_output, HostedZoneProvider.delete_before_replace) == (
        "zone_id",
        True,
    )
    diff = HostedZoneProvider().diff("Z1", ZONE, {**ZONE, "tags": {**TAGS, "team": "a"}})
    assert diff.changes and diff.replaces == []


def test_a_records_value_and_ttl_change_in_place_its_name_and_type_replace_it() -> None:
    old = record_props("Z1")
    assert RecordSetProvider.inputs == ("zone_id", "fqdn", "record_type", "value", "ttl")
    assert "region" not in RecordSetProvider.inputs  # a client setting, never compared
    changed = RecordSetProvider().diff("Z1/web-0.dev.internal/A", old, {**old, "value": "10.0.1.6"})
    assert changed.changes and changed.replaces == []
    retyped = {**old, "record_type": "CNAME", "value": "db-0.dev.internal"}
    replaced = RecordSetProvider().diff("Z1/web-0.dev.internal/A", old, retyped)
    assert replaced.replaces == ["record_type"] and replaced.delete_before_replace


# --- zones, exactly once --------------------------------------------------------------------


def test_a_zone_whose_create_answer_was_lost_is_adopted_by_its_caller_reference(
    route53: FakeRoute53,
) -> None:
    route53.lose = {"create_hosted_zone"}
    created = HostedZoneProvider().create(dict(ZONE))
    [(zone_id, zone)] = route53.zones.items()
    assert created.id == zone_id and created.outs["zone_id"] == zone_id
    assert route53.calls.count("create_hosted_zone") == 1
    assert zone["CallerReference"] == "provision:dev:" + creation_token(TAGS, "run-1")
    assert zone["VPC"] == {"VPCRegion": "us-east-1", "VPCId": "vpc-1"}
    assert route53.tags[zone_id] == TAGS


def test_a_resend_that_meets_its_own_caller_reference_adopts_that_zone(
    route53: FakeRoute53,
) -> None:
    """The lookup before the re-send does not list the new zone yet; AWS then refuses the
    repeated CallerReference, and a later lookup finds the zone."""
    route53.lose = {"create_hosted_zone"}
    route53.unlisted_for = 1
    created = HostedZoneProvider().create(dict(ZONE))
    assert list(route53.zones) == [created.id]
    assert route53.calls.count("create_hosted_zone") == 1  # the refused one is not answered


def test_long_environment_names_keep_the_caller_reference_within_128_characters() -> None:
    prefix = caller_reference_prefix("e" * 200)
    assert len(prefix + "t" * 32) <= 128
    assert prefix == caller_reference_prefix("e" * 200) != caller_reference_prefix("e" * 201)
    assert caller_reference_prefix("dev") == "provision:dev:"


def test_a_zone_delete_removes_records_left_in_it_and_a_repeat_finds_it_gone(
    route53: FakeRoute53,
) -> None:
    zone_id = HostedZoneProvider().create(dict(ZONE)).id
    RecordSetProvider().create(record_props(zone_id, "extra"))  # as if made out of band
    HostedZoneProvider().delete(zone_id, {**ZONE, "zone_id": zone_id})
    assert route53.zones == {}
    # Deleting again meets NoSuchHostedZone: success, as no listing shows it.
    HostedZoneProvider().delete(zone_id, {**ZONE, "zone_id": zone_id})


def test_a_zone_read_back_shows_its_name_vpc_and_tags_and_a_gone_one_is_absent(
    route53: FakeRoute53,
) -> None:
    zone_id = HostedZoneProvider().create(dict(ZONE)).id
    live = HostedZoneProvider.read_many(route53, {zone_id: {}, "ZGONE": {}})
    assert live == {
        zone_id: {"domain": "dev.internal", "vpc_id": "vpc-1", "tags": TAGS, "zone_id": zone_id}
    }


# --- records ----------------------------------------------------------------------------


def test_a_record_written_twice_after_a_lost_answer_is_one_record(route53: FakeRoute53) -> None:
    zone_id = HostedZoneProvider().create(dict(ZONE)).id
    route53.lose = {"change_resource_record_sets"}
    with pytest.raises(ConnectionClosedError):
        RecordSetProvider().create(record_props(zone_id))  # the client would re-send
    created = RecordSetProvider().create(record_props(zone_id))
    assert created.id == f"{zone_id}/web-0.dev.internal/A"
    assert [k for k in route53.records[zone_id] if k[1] == "A"] == [("web-0.dev.internal.", "A")]


def test_drift_reads_a_record_value_edited_out_of_band(route53: FakeRoute53) -> None:
    zone_id = HostedZoneProvider().create(dict(ZONE)).id
    record_id = RecordSetProvider().create(record_props(zone_id)).id
    edit = {"Action": "UPSERT", "ResourceRecordSet": _set("web-0", "10.0.1.99")}
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [edit]})
    live = RecordSetProvider.read_many(route53, {record_id: {}, f"{zone_id}/gone.x/A": {}})
    assert list(live) == [record_id]
    assert (live[record_id]["value"], live[record_id]["ttl"]) == ("10.0.1.99", 300)


def test_a_record_is_deleted_with_its_live_values_and_a_gone_one_is_success(
    route53: FakeRoute53,
) -> None:
    zone_id = HostedZoneProvider().create(dict(ZONE)).id
    props = record_props(zone_id)
    record_id = RecordSetProvider().create(props).id
    edit = {"Action": "UPSERT", "ResourceRecordSet": _set("web-0", "9.9.9.9")}
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [edit]})
    RecordSetProvider().delete(record_id, props)  # its recorded value no longer matches
    assert ("web-0.dev.internal.", "A") not in route53.records[zone_id]
    RecordSetProvider().delete(record_id, props)  # already gone
    HostedZoneProvider().delete(zone_id, {**ZONE, "zone_id": zone_id})
    RecordSetProvider().delete(record_id, props)  # its zone is gone too


def _set(name: str, value: str) -> dict[str, Any]:
    return {
        "Name": f"{name}.dev.internal",
        "Type": "A",
        "TTL": 300,
        "ResourceRecords": [{"Value": value}],
    }


# --- orphans ----------------------------------------------------------------------------


def test_the_orphan_sweep_finds_zones_by_caller_reference_and_empties_them_first(
    route53: FakeRoute53,
) -> None:
    known = HostedZoneProvider().create(dict(ZONE)).id
    known_record = RecordSetProvider().create(record_props(known)).id
    stray_record = RecordSetProvider().create(record_props(known, "stray")).id
    other_address = {**TAGS, "provision:address": "dns.other"}
    orphan = HostedZoneProvider().create({**ZONE, "tags": other_address}).id
    RecordSetProvider().create(record_props(orphan, "db-0"))
    other_env = {**TAGS, "provision:env": "dev-2"}
    kept = HostedZoneProvider().create({**ZONE, "tags": other_env}).id

    def client_for(service: str) -> Any:
        return route53 if service == "route53" else EmptyService()

    swept = sweep(client_for, "dev", {known, known_record})
    assert sorted(swept.deleted) == sorted([stray_record, f"{orphan}/db-0.dev.internal/A", orphan])
    assert sorted(route53.zones) == sorted([known, kept])
    assert route53.live_value(known, "web-0.dev.internal") == "10.0.1.5"
