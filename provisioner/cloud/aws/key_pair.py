"""SSH key pair created by EC2: a boto3 dynamic resource whose private key is a secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import (
    Described,
    Ec2Provider,
    Listing,
    Outputs,
    undo_on_failure,
)
from provisioner.cloud.aws.exactly_once import delete_confirmed, settle

SECRET_OUTPUTS = ("private_key",)


class KeyPairProvider(Ec2Provider):
    """A named key pair. EC2 returns the private key once, at creation; state keeps it encrypted."""

    inputs = ("key_name", "key_type", "region", "tags")
    replace_on = ("key_name", "key_type", "region")
    stable_outputs = ("key_pair_id", "fingerprint", "public_key", "private_key")
    not_found = frozenset({"InvalidKeyPair.NotFound"})
    # Key pairs are addressed by name: names are unique per region, and the local cloud
    # (moto) looks key pairs up by name only.
    delete_before_replace = True  # key names are unique in a region
    # Reads select by id: a name that now belongs to another key pair is not this one.
    listing = Listing("describe_key_pairs", "key-pair-id", "KeyPairs", "KeyPairId")
    id_output = "key_pair_id"
    resource_type = "key-pair"
    # A re-send finds the name taken by the key pair an earlier attempt made (the
    # lookup by token then deletes it, and the next attempt makes a new one).
    create_landed = frozenset({"InvalidKeyPair.Duplicate"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        created: dict[str, Any] = self.create_once(
            props,
            lambda once, request: dict(
                once.create_key_pair(
                    KeyName=props["key_name"], KeyType=props["key_type"], **request
                )
            ),
            lambda described: self._discard(ec2, described),
        )
        with undo_on_failure(lambda: self.remove(ec2, created["KeyPairId"], props)):
            [described] = settle(
                lambda: ec2.describe_key_pairs(KeyNames=[props["key_name"]], IncludePublicKey=True)[
                    "KeyPairs"
                ]
            )
        outs = {
            **props,
            "key_pair_id": created["KeyPairId"],
            "fingerprint": created["KeyFingerprint"],
            "public_key": described["PublicKey"].strip(),
            "private_key": created["KeyMaterial"],
        }
        return CreateResult(id_=created["KeyPairId"], outs=outs)

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        return {"key_name": described["KeyName"], "tags": tags.from_aws(described.get("Tags"))}

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.sync_tags(self.ec2(news), id_, olds, news)
        kept = {
            key: olds[key] for key in ("key_pair_id", "fingerprint", "public_key", "private_key")
        }
        return UpdateResult(outs={**news, **kept})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.remove(self.ec2(props), id_, props)

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete by name (the local cloud knows key pairs by name); gone once its id is unlisted.

        Deleting a missing key pair succeeds, so a repeat after a lost answer is harmless.
        """
        delete_confirmed(
            lambda: ec2.delete_key_pair(KeyName=props["key_name"]),
            lambda: cls.still_there(ec2, id_),
            cls.not_found,
        )

    @classmethod
    def _discard(cls, ec2: Any, described: Described) -> None:
        """Delete a key pair that an attempt whose answer was lost made: its private key
        was only in that answer, so it cannot be adopted. None: make a new one."""
        cls.remove(ec2, described["KeyPairId"], {"key_name": described["KeyName"]})


class KeyPair(Resource):
    key_name: pulumi.Output[str]
    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        key_name: str,
        key_type: str,
        region: str,
        tags: pulumi.Input[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "key_name": key_name,
            "key_type": key_type,
            "region": region,
            "tags": tags,
            "key_pair_id": None,
            "fingerprint": None,
            "public_key": None,
            "private_key": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        super().__init__(KeyPairProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))
