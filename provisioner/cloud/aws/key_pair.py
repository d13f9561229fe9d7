"""SSH key pair created by EC2: a boto3 dynamic resource whose private key is a secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import Described, Outputs, Prop, prop_table, undo_on_failure
from provisioner.cloud.aws.ec2 import Ec2Provider, Listing
from provisioner.cloud.aws.exactly_once import delete_confirmed, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.spec.kinds.key_pair import KEY_PAIR


class KeyPairProvider(Ec2Provider):
    """A named key pair. EC2 returns the private key once, at creation; state keeps it encrypted."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("key_name", "key_type", "region"),
        inputs=("tags",),
        id_output="key_pair_id",
        stable=("fingerprint", "public_key", "private_key"),
        secret=("private_key",),
    )
    not_found = frozenset({"InvalidKeyPair.NotFound"})
    # Key pairs are addressed by name: names are unique per region, and the local cloud
    # (moto) looks key pairs up by name only.
    delete_before_replace = True  # key names are unique in a region
    # Reads select by id: a name that now belongs to another key pair is not this one.
    listing = Listing("describe_key_pairs", "key-pair-id", "KeyPairs", "KeyPairId")
    resource_type = "key-pair"
    # A re-send finds the name taken by the key pair an earlier attempt made (the
    # lookup by token then deletes it, and the next attempt makes a new one).
    create_landed = frozenset({"InvalidKeyPair.Duplicate"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
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
    def remove_orphan(cls, client: Any, described: Described) -> None:
        """Deleted by name, which the described object gives."""
        cls.remove(client, cls.id_of(described), {"key_name": described["KeyName"]})

    @classmethod
    def _discard(cls, ec2: Any, described: Described) -> None:
        """Delete a key pair that an attempt whose answer was lost made: its private key
        was only in that answer, so it cannot be adopted. None: make a new one."""
        cls.remove(ec2, described["KeyPairId"], {"key_name": described["KeyName"]})


KEY_PAIR_CLOUD = CloudKind(
    KEY_PAIR, (KeyPairProvider,), {"name": "key_name", "public_key": "public_key"}
)
