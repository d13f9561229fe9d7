"""Route53 private hosted zones and their records: boto3 dynamic resources.

Route53 has no tag filter (nor does the local cloud's tagging API cover it), so a
zone carries its environment and create token in its CallerReference
(`provision:ENV:TOKEN`), which Route53 lists with it for the zone's life: a create
whose answer was lost is adopted by it, and the orphan sweep finds an
environment's zones by its prefix. Tags are set after the create, for people and
drift. Records are written with UPSERT, which a repeat cannot harm, and deleted
with the values they hold live (Route53 deletes only on matching values).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import (
    AwsProvider,
    Described,
    Outputs,
    Prop,
    prop_table,
    undo_on_failure,
)
from provisioner.cloud.aws.exactly_once import (
    ADDRESS_TAG,
    ENV_TAG,
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    error_code,
)
from provisioner.cloud.aws.kind import CloudKind
from provisioner.spec.kinds.dns import DNS

_ZONE_PATH = "/hostedzone/"
_NO_ZONE = frozenset({"NoSuchHostedZone"})
# Made with the zone and deleted with it: its SOA and its NS records at the apex.
_APEX_TYPES = frozenset({"SOA", "NS"})
# Route53 takes CallerReferences of at most 128 characters: longer environment names
# are shortened to a digest (prefix, 64, colon and 32 token characters fit).
_LONGEST_ENV_PART = 64
_TAGS_PER_CALL = 10  # ChangeTagsForResource takes at most 10 of each


def caller_reference_prefix(environment: str) -> str:
    """What the CallerReference of every zone `environment` makes starts with."""
    digest = hashlib.sha256(environment.encode()).hexdigest()[:_LONGEST_ENV_PART]
    return f"provision:{environment if len(environment) <= _LONGEST_ENV_PART else digest}:"


def zone_id_of(zone: Described) -> str:
    """`Z123` of a listed or described zone (whose `Id` is `/hostedzone/Z123`)."""
    return str(zone["Id"]).removeprefix(_ZONE_PATH)


def listed_zones(route53: Any) -> Iterator[Described]:
    """Every hosted zone of the account."""
    for page in route53.get_paginator("list_hosted_zones").paginate():
        yield from page.get("HostedZones", [])


def environment_zones(route53: Any, environment: str) -> list[Described]:
    """The zones `environment` made, found by their CallerReference."""
    prefix = caller_reference_prefix(environment)
    return [zone for zone in listed_zones(route53) if zone["CallerReference"].startswith(prefix)]


def record_sets(route53: Any, zone_id: str) -> dict[str, Described]:
    """The zone's record sets by record id; none if the zone is gone."""
    try:
        pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
        listed = [record for page in pages for record in page.get("ResourceRecordSets", [])]
    except ClientError as error:
        if error_code(error) in _NO_ZONE:
            return {}
        raise
    apex = {record["Name"] for record in listed if record["Type"] == "SOA"}
    return {
        _record_id(zone_id, record["Name"], record["Type"]): record
        for record in listed
        if not (record["Type"] in _APEX_TYPES and record["Name"] in apex)
    }


def delete_record_set(route53: Any, record_id: str) -> None:
    """Delete one record set with its live values; done once no listing shows it."""
    zone_id = record_id.partition("/")[0]

    def delete() -> None:
        live = record_sets(route53, zone_id).get(record_id)
        if live is not None:
            change = {"Action": "DELETE", "ResourceRecordSet": live}
            route53.change_resource_record_sets(
                HostedZoneId=zone_id, ChangeBatch={"Changes": [change]}
            )

    delete_confirmed(
        delete,
        lambda: record_id in record_sets(route53, zone_id),
        {"InvalidChangeBatch", *_NO_ZONE},
    )


class HostedZoneProvider(AwsProvider):
    """A private zone attached to one VPC; its name, VPC and region are fixed."""

    service = "route53"
    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("domain", "vpc_id", "region"), inputs=("tags",), id_output="zone_id"
    )
    not_found = _NO_ZONE
    # AWS refuses two private zones of one name in a VPC: the old one goes first
    # (Pulumi then deletes its records, which are replaced with it, before it).
    delete_before_replace = True

    def create(self, props: dict[str, Any]) -> CreateResult:
        route53 = self.client(props)
        token = creation_token(props["tags"], current_run_id())
        reference = caller_reference_prefix(props["tags"][ENV_TAG]) + token
        once = clients.client_once(self.service, props["region"])

        def send() -> str:
            answer = once.create_hosted_zone(
                Name=props["domain"],
                CallerReference=reference,
                VPC={"VPCRegion": props["region"], "VPCId": props["vpc_id"]},
                HostedZoneConfig={
                    "Comment": f"provision {props['tags'].get(ADDRESS_TAG, '')}",
                    "PrivateZone": True,  # the local cloud ignores the VPC without it
                },
            )
            return zone_id_of(answer["HostedZone"])

        def find() -> str | None:
            found = [z for z in listed_zones(route53) if z["CallerReference"] == reference]
            return zone_id_of(found[0]) if found else None

        # A re-send after a lost answer meets HostedZoneAlreadyExists on AWS (the local
        # cloud makes a second zone, which the lookup before each re-send prevents).
        zone_id = create_exactly_once(send, find, landed={"HostedZoneAlreadyExists"})
        with undo_on_failure(lambda: self.remove(route53, zone_id, props)):
            _sync_tags(route53, zone_id, {}, props["tags"])
        return CreateResult(id_=zone_id, outs={**props, "zone_id": zone_id})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _sync_tags(self.client(news), id_, olds.get("tags") or {}, news.get("tags") or {})
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def read_one(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> Outputs | None:
        """Two reads: the zone and its tags."""
        described = client.get_hosted_zone(Id=id_)
        tagged = client.list_tags_for_resource(ResourceType="hostedzone", ResourceId=id_)
        return {
            "domain": str(described["HostedZone"]["Name"]).removesuffix("."),
            "vpc_id": (described.get("VPCs") or [{}])[0].get("VPCId", ""),
            "tags": tags.from_aws(tagged["ResourceTagSet"].get("Tags")),
            "zone_id": id_,
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete the records left in it (none after Pulumi deleted its own), then the zone."""

        def delete() -> None:
            for record_id in record_sets(client, id_):
                delete_record_set(client, record_id)
            client.delete_hosted_zone(Id=id_)

        delete_confirmed(
            delete,
            lambda: any(zone_id_of(zone) == id_ for zone in listed_zones(client)),
            cls.not_found,
        )

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        listed = environment_zones(client, environment)
        return [zone for zone in listed if zone_id_of(zone) not in known_ids]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return zone_id_of(described)


class RecordSetProvider(AwsProvider):
    """One record set of a zone (a name and a type) holding one value."""

    service = "route53"
    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("zone_id", "fqdn", "record_type"),
        inputs=("value", "ttl"),
        settings=("region",),
        id_output="record_id",
    )
    not_found = _NO_ZONE
    # A CNAME cannot stand beside another record of its name: the old one goes first.
    delete_before_replace = True

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._upsert(self.client(props), props)
        record_id = _record_id(props["zone_id"], props["fqdn"], props["record_type"])
        return CreateResult(id_=record_id, outs={**props, "record_id": record_id})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._upsert(self.client(news), news)
        return UpdateResult(outs={**news, **self.kept(olds)})

    @staticmethod
    def _upsert(route53: Any, props: Mapping[str, Any]) -> None:
        """Write the record as `props` says: a repeat (after a lost answer) changes nothing."""
        record = {
            "Name": props["fqdn"],
            "Type": props["record_type"],
            "TTL": int(props["ttl"]),
            "ResourceRecords": [{"Value": props["value"]}],
        }
        route53.change_resource_record_sets(
            HostedZoneId=props["zone_id"],
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
        )

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One listing per zone."""
        found: dict[str, Outputs] = {}
        for zone_id in sorted({record_id.partition("/")[0] for record_id in recorded}):
            for record_id, described in record_sets(client, zone_id).items():
                if record_id in recorded:
                    values = [str(v["Value"]) for v in described.get("ResourceRecords", [])]
                    found[record_id] = {
                        "zone_id": zone_id,
                        "fqdn": str(described["Name"]).removesuffix("."),
                        "record_type": described["Type"],
                        "value": ",".join(values),
                        "ttl": described.get("TTL"),
                        "record_id": record_id,
                    }
        return found

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        delete_record_set(client, id_)

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """The records in the environment's zones that the state does not know."""
        return [
            {**described, "HostedZoneId": zone_id_of(zone)}
            for zone in environment_zones(client, environment)
            for record_id, described in record_sets(client, zone_id_of(zone)).items()
            if record_id not in known_ids
        ]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return _record_id(described["HostedZoneId"], described["Name"], described["Type"])


def _record_id(zone_id: str, name: str, record_type: str) -> str:
    """`Z123/web-0.dev.internal/A`: a record set is its zone, name and type."""
    return f"{zone_id}/{str(name).removesuffix('.')}/{record_type}"


def _sync_tags(route53: Any, zone_id: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Make the zone's tags go from `old` to `new`, 10 a call (each call is idempotent)."""
    added = tags.to_aws({key: value for key, value in new.items() if old.get(key) != value})
    removed = sorted(set(old) - set(new))
    for start in range(0, max(len(added), len(removed)), _TAGS_PER_CALL):
        chunk = slice(start, start + _TAGS_PER_CALL)
        change = {"AddTags": added[chunk], "RemoveTagKeys": removed[chunk]}
        route53.change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=zone_id, **{k: v for k, v in change.items() if v}
        )


DNS_CLOUD = CloudKind(DNS, (HostedZoneProvider, RecordSetProvider), {"zone_id": "zone_id"})
