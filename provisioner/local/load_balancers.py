"""Realizes load balancers: each of moto's application load balancers as a real HAProxy.

A load balancer is a namespace of its own, plugged into each of its subnets
(`eth0`, `eth1`, ...) with its address there, and an HAProxy inside it (see
haproxy.py) that follows the listeners, target groups and registrations. Each
pass also reads what HAProxy sees of every target into the table that answers
DescribeTargetHealth (see targethealth.py).

A load balancer's folder records its namespace and plugs before they exist, so
whatever a crashed daemon left is found and removed by the next one.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from provisioner.fsutil import atomic_write_json, read_json
from provisioner.local.dataplane import MotoReader
from provisioner.local.haproxy import HAProxy, render_config
from provisioner.local.lbmodel import LoadBalancer
from provisioner.local.lbmoto import NAMESPACE_KIND, moto_load_balancers, remove_all_interfaces
from provisioner.local.targethealth import TargetHealth, TargetHealthTable, TargetKey, health_of
from provisioner.local.vpcnet import Attachment, VpcNetworks

log = logging.getLogger(__name__)

RECORD = "lb.json"


@dataclass(frozen=True)
class Plumbing:
    """Where a load balancer's namespace is plugged in: recorded before it is made."""

    namespace: str
    attachments: tuple[Attachment, ...]

    def save(self, folder: Path) -> None:
        atomic_write_json(folder / RECORD, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> Plumbing | None:
        data = read_json(folder / RECORD)
        if not isinstance(data, dict):
            return None
        try:
            attachments = tuple(Attachment(**item) for item in data["attachments"])
            return cls(str(data["namespace"]), attachments)
        except (KeyError, TypeError):
            return None


@dataclass(frozen=True)
class _Running:
    """A realized load balancer: what it was made from, and its HAProxy."""

    lb: LoadBalancer
    plumbing: Plumbing
    haproxy: HAProxy


class LoadBalancerRealizer:
    """Makes a real HAProxy of every application load balancer in moto; its files under `root`."""

    name = "load balancers"

    def __init__(
        self,
        root: Path,
        networks: VpcNetworks,
        moto: MotoReader,
        health: TargetHealthTable,
    ) -> None:
        self.root = root
        self.networks = networks
        self.moto = moto
        self.health = health
        self._running: dict[str, _Running] = {}

    def step(self) -> None:
        """One pass: follow moto's load balancers, then record what HAProxy sees."""
        desired = {lb.arn: lb for lb in self.moto(lambda: moto_load_balancers(self.networks))}
        for arn in set(self._running) - set(desired):
            self._remove(self._running.pop(arn))
        self._remove_leftovers()
        for lb in desired.values():
            try:
                self._realize(lb)
            except Exception:
                log.exception("could not realize load balancer %s", lb.arn)
        seen = self._health()
        self.moto(lambda: self.health.replace(seen))

    def vpcs_in_use(self) -> set[str]:
        return {running.lb.vpc_id for running in self._running.values()}

    def teardown(self) -> None:
        """Stop every HAProxy, remove every namespace, folder and interface of a load balancer."""
        for running in self._running.values():
            self._remove(running)
        self._running = {}
        self._remove_leftovers()
        self.moto(remove_all_interfaces)
        self.moto(lambda: self.health.replace({}))

    def folder(self, lb_id: str) -> Path:
        return self.root / lb_id

    def _realize(self, lb: LoadBalancer) -> None:
        running = self._running.get(lb.arn)
        if running is not None and running.lb.attachments != lb.attachments:
            self._remove(self._running.pop(lb.arn))  # its subnets changed: plug it in anew
            running = None
        folder = self.folder(lb.lb_id)
        if running is None:
            plumbing = Plumbing(self.networks.namespace(NAMESPACE_KIND, lb.lb_id), lb.attachments)
            folder.mkdir(parents=True, exist_ok=True)
            plumbing.save(folder)
            for index, attachment in enumerate(lb.attachments):
                self.networks.attach(plumbing.namespace, attachment, default_route=index == 0)
            running = _Running(lb, plumbing, HAProxy(folder, plumbing.namespace))
            self._running[lb.arn] = running
        running.haproxy.apply(render_config(lb, running.haproxy.files))
        self._running[lb.arn] = replace(running, lb=lb)

    def _health(self) -> dict[str, dict[TargetKey, TargetHealth]]:
        """What each running HAProxy sees of each target, by target group."""
        seen: dict[str, dict[TargetKey, TargetHealth]] = {}
        for running in self._running.values():
            statuses = running.haproxy.server_statuses()
            if statuses is None:
                continue  # not answering (e.g. reloading): its groups read as initial
            by_server = {
                (group.backend, target.server): (group.arn, (target.target_id, target.port))
                for group in running.lb.target_groups
                for target in group.targets
            }
            for group in running.lb.target_groups:
                seen.setdefault(group.arn, {})
            for status in statuses:
                found = by_server.get((status.backend, status.server))
                if found is not None:
                    seen[found[0]][found[1]] = health_of(status)
        return seen

    def _remove(self, running: _Running) -> None:
        running.haproxy.stop()
        self._unplug(self.folder(running.lb.lb_id), running.plumbing)

    def _remove_leftovers(self) -> None:
        """Remove the leftovers of load balancers not running (a crash's, a failed start's)."""
        if not self.root.is_dir():
            return
        running = {r.lb.lb_id for r in self._running.values()}
        for folder in self.root.iterdir():
            if folder.name in running:
                continue
            plumbing = Plumbing.load(folder)
            if plumbing is not None:
                HAProxy(folder, plumbing.namespace).stop()
            self._unplug(folder, plumbing)

    def _unplug(self, folder: Path, plumbing: Plumbing | None) -> None:
        if plumbing is not None:
            self.networks.detach(plumbing.namespace, list(plumbing.attachments))
        shutil.rmtree(folder, ignore_errors=True)
