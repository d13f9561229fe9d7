"""Hosts as the web view shows them: per VM of an environment, the roles it runs, each
role's last result, and the VM's history across runs (its own node and its roles')."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.engine.run_record import NodeRecord, RunRecord
from provisioner.graph import ResourceGraph
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.vm import VM


@dataclass(frozen=True)
class Work:
    """One run's work on one node: the run, the node's address, and the record."""

    run: RunRecord
    address: str
    record: NodeRecord

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run.id, "address": self.address, **self.record.to_json()}


@dataclass(frozen=True)
class RoleResult:
    """A role on a host and the last run that configured (or tried to) it."""

    role: str
    address: str
    last: Work | None

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "address": self.address,
            "last": self.last.to_json() if self.last else None,
        }


@dataclass(frozen=True)
class Host:
    """One VM of the environment's spec, its roles, and its history (newest first)."""

    address: str
    roles: tuple[RoleResult, ...]
    history: tuple[Work, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.address,
            "roles": [role.to_json() for role in self.roles],
            "history": [work.to_json() for work in self.history],
        }


def hosts(graph: ResourceGraph, runs: Sequence[RunRecord]) -> list[Host]:
    """Every VM of `graph`, with its roles' last results among `runs` (newest first)."""
    roles: dict[Address, list[Address]] = {}
    for node in graph.nodes():
        if node.address.host is not None:
            roles.setdefault(node.address.host, []).append(node.address)
    found = []
    for node in graph.nodes():
        address = node.address
        if address.kind is not VM:
            continue
        mine = {str(address), *(str(role) for role in roles.get(address, []))}
        history = tuple(
            Work(run, key, record)
            for run in runs
            for key, record in sorted(run.nodes.items())
            if key.split("/", 1)[0] in mine
        )
        found.append(
            Host(
                str(address),
                tuple(
                    RoleResult(
                        role.name,
                        str(role),
                        next((work for work in history if work.address == str(role)), None),
                    )
                    for role in sorted(roles.get(address, []), key=str)
                ),
                history,
            )
        )
    return found
