"""What every boto3-backed dynamic provider shares: its property table, diffs, clients, reads.

A provider names its boto3 `service` and declares one property table (`Prop`
flags by property name). From the table come the inputs it compares (so
output-only properties such as ids never show up as changes), the inputs that
force a replacement, the outputs that stay known in a preview (`STABLE`), the
outputs held as secrets, and what an update keeps of the old outputs.

Reading is done in bulk: `read_many` reads any number of resources (one request
per batch where the service allows), through the same mapping from a described
object to live outputs (`live`) that Pulumi's per-resource `read` uses.

Deleting is `remove(client, id, recorded outputs)`, which the orphan sweep calls
too, with only what it knows; `orphans` lists what an environment left that no
state knows. A provider whose resources may hold data (a bucket's objects) says
why one must not be deleted now (`delete_blocker`): `down` then refuses before
deleting anything, and rollback and the orphan sweep leave it and report it.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from enum import Flag, auto
from typing import Any, ClassVar, TypeVar

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import DiffResult, ReadResult, Resource, ResourceProvider

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.exactly_once import error_code

T = TypeVar("T")

# Errors AWS returns while a dependency is still going away (an ENI of a terminated
# instance, a detaching gateway): retry them for a while before giving up.
_DEPENDENCY_CODES = frozenset(
    {
        "DependencyViolation",
        "InvalidGroup.InUse",
        "ResourceInUse",
        "InvalidDBSubnetGroupStateFault",  # an instance in it is still being deleted
    }
)

Described = dict[str, Any]  # one object of a describe response, as boto3 returns it
Outputs = dict[str, Any]


class Prop(Flag):
    """What a property of a resource is.

    `INPUT`: given by the program and compared by `diff`. `REPLACES`: an input whose
    change replaces the resource. `SETTING`: given by the program but operational
    (a timeout), never compared. `OUTPUT`: set by the provider. `STABLE`: an output
    an update never changes (kept from the old outputs, known in a preview). `ID`:
    the stable output that holds the resource's own id. `SECRET`: an output kept
    as a Pulumi secret.
    """

    INPUT = auto()
    REPLACES = auto()
    SETTING = auto()
    OUTPUT = auto()
    STABLE = auto()
    ID = auto()
    SECRET = auto()


def prop_table(
    *,
    replaces: tuple[str, ...] = (),
    inputs: tuple[str, ...] = (),
    settings: tuple[str, ...] = (),
    id_output: str,
    stable: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    secret: tuple[str, ...] = (),
) -> dict[str, Prop]:
    """A property table, written by what each property is (see `Prop`)."""
    found = {name: Prop.REPLACES for name in replaces}
    found |= {name: Prop.INPUT for name in inputs}
    found |= {name: Prop.SETTING for name in settings}
    found[id_output] = Prop.ID
    found |= {name: Prop.STABLE for name in stable}
    found |= {name: Prop.OUTPUT for name in outputs}
    for name in secret:
        found[name] = found.get(name, Prop.OUTPUT) | Prop.SECRET
    return found


class AwsProvider(ResourceProvider):
    """Base of the providers: one boto3 service, one property table."""

    service: ClassVar[str]
    properties: ClassVar[Mapping[str, Prop]] = {}
    not_found: ClassVar[frozenset[str]] = frozenset()
    # Names that must be unique (key pairs) cannot exist twice during a replacement.
    delete_before_replace: ClassVar[bool] = False
    # Derived from `properties` for each subclass.
    inputs: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()
    stable_outputs: ClassVar[tuple[str, ...]] = ()
    secret_outputs: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    # The output that holds the resource's own id (`vpc_id`): it tells, in a state
    # export, which provider made a resource.
    id_output: ClassVar[str] = ""
    # True if the provider has a `delete_blocker` of its own (only then is it asked).
    guards_deletes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.properties

        def having(flag: Prop) -> tuple[str, ...]:
            return tuple(name for name, prop in table.items() if prop & flag)

        cls.inputs = having(Prop.INPUT | Prop.REPLACES)
        cls.replace_on = having(Prop.REPLACES)
        cls.stable_outputs = having(Prop.STABLE | Prop.ID)
        cls.secret_outputs = having(Prop.SECRET)
        cls.settings = having(Prop.SETTING)
        cls.outputs = having(Prop.OUTPUT | Prop.STABLE | Prop.ID | Prop.SECRET)
        ids = having(Prop.ID)
        cls.id_output = ids[0] if ids else ""
        cls.guards_deletes = "delete_blocker" in vars(cls) or cls.guards_deletes

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.inputs if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[key for key in self.inputs if key not in changed] + list(self.stable_outputs),
            delete_before_replace=self.delete_before_replace,
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self.read_many(self.client(props), {id_: props}).get(id_)
        if live is None:
            return ReadResult(id_="", outs={})  # gone: refresh drops it
        return ReadResult(id_=id_, outs={**props, **live})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        self.remove(self.client(props), id_, props)

    @classmethod
    def kept(cls, olds: Mapping[str, Any]) -> dict[str, Any]:
        """The outputs an update keeps: the stable ones, as they were."""
        return {key: olds.get(key) for key in cls.stable_outputs}

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """The live outputs of each resource in `recorded` (id -> recorded outputs).

        Resources that no longer exist are absent. By default one `read_one` per
        resource, for services with no describe of many at once.
        """
        found: dict[str, Outputs] = {}
        for id_, outputs in recorded.items():
            try:
                live = cls.read_one(client, id_, outputs)
            except ClientError as error:
                if error_code(error) in cls.not_found:
                    continue
                raise
            if live is not None:
                found[id_] = live
        return found

    @classmethod
    def read_one(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> Outputs | None:
        """The live outputs of one resource; None (or its NotFound) if it is gone."""
        raise NotImplementedError

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete `id_` (what `delete` does with the process's client).

        `props` are the recorded outputs; the orphan sweep passes only what it knows.
        """
        raise NotImplementedError

    @classmethod
    def delete_blocker(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> str | None:
        """Why `id_` must not be deleted now (it holds data), or None: it may be.

        `recorded` is as for `remove`. Asked only if the provider defines it
        (`guards_deletes`): it reads the cloud.
        """
        return None

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """The live resources `environment` made that no id in `known_ids` names."""
        raise NotImplementedError

    @classmethod
    def remove_orphans(cls, client: Any, orphans: Sequence[Described]) -> None:
        """Delete what `orphans` found, one by one."""
        for described in orphans:
            cls.remove_orphan(client, described)

    @classmethod
    def remove_orphan(cls, client: Any, described: Described) -> None:
        """Delete one of `orphans`: by default as `remove` does, knowing only its id."""
        cls.remove(client, cls.id_of(described), {})

    @classmethod
    def id_of(cls, described: Described) -> str:
        """The id of a described object."""
        raise NotImplementedError

    @classmethod
    def client(cls, props: Mapping[str, Any]) -> Any:
        """This process's client of the provider's service, in the resource's region."""
        return clients.client(cls.service, props["region"])


class AwsResource(Resource):
    """A resource of an `AwsProvider`: the inputs its property table names, then its outputs.

    `inputs` must give every input and may give settings; outputs are read with
    `output(name)`, which refuses a name the table does not have.
    """

    def __init__(
        self,
        provider: AwsProvider,
        name: str,
        inputs: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        allowed = {*provider.inputs, *provider.settings}
        if not set(provider.inputs) <= set(inputs) <= allowed:
            raise TypeError(
                f"{type(provider).__name__} takes {sorted(allowed)}, got {sorted(inputs)}"
            )
        self._properties = frozenset({*allowed, *provider.outputs})
        props = {**inputs, **dict.fromkeys(provider.outputs)}
        if provider.secret_outputs:
            secret = pulumi.ResourceOptions(additional_secret_outputs=list(provider.secret_outputs))
            opts = pulumi.ResourceOptions.merge(opts, secret)
        super().__init__(provider, name, props, opts)

    def output(self, name: str) -> pulumi.Output[Any]:
        """The resource's property `name` (an input, or an output known once it is made)."""
        if name not in self._properties:
            raise AttributeError(f"no property '{name}' (one of {sorted(self._properties)})")
        found: pulumi.Output[Any] = getattr(self, name)
        return found


def until_dependencies_clear(action: Callable[[], T], *, timeout: float = 300.0) -> T:
    """Run `action`, retrying with backoff while AWS reports a dependency still in use."""
    deadline = time.monotonic() + timeout
    delay = 1.0
    while True:
        try:
            return action()
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code not in _DEPENDENCY_CODES or time.monotonic() > deadline:
                raise
        time.sleep(delay + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto
        delay = min(delay * 2, 15.0)


@contextlib.contextmanager
def undo_on_failure(undo: Callable[[], object]) -> Iterator[None]:
    """If the rest of a create fails, undo its first step, so no half-made resource is left.

    Pulumi records a resource only when create returns; anything made before a
    failure would otherwise be an orphan that no state knows about.
    """
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            undo()
        raise
