"""The local cloud's data plane loop: make the namespace hosts match the running instances."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable

from provisioner.local.cloudinit import parse_user_data
from provisioner.local.hosts import HostFarm, HostSpec

log = logging.getLogger(__name__)

DesiredHosts = Callable[[], Iterable[HostSpec]]


def running_moto_instances() -> list[HostSpec]:
    """Every running instance in this process's moto backends, as a host spec."""
    from moto.ec2.models import ec2_backends  # the daemon serves moto in-process

    specs = []
    for _account, regions in list(ec2_backends.items()):
        for _region, backend in list(regions.items()):
            for instance in backend.all_instances():
                address = instance.private_ip
                if instance.state != "running" or not instance.subnet_id or not address:
                    continue
                subnet = backend.get_subnet(instance.subnet_id)
                config = parse_user_data(_decoded(instance.user_data))
                specs.append(
                    HostSpec(
                        instance_id=instance.id,
                        vpc_id=str(instance.vpc_id),
                        subnet_id=instance.subnet_id,
                        subnet_cidr=subnet.cidr_block,
                        private_ip=address,
                        hostname=config.hostname or f"ip-{address.replace('.', '-')}",
                        authorized_keys=config.authorized_keys,
                    )
                )
    return specs


def _decoded(user_data: object) -> str:
    if not user_data:
        return ""
    raw = user_data.as_bytes() if hasattr(user_data, "as_bytes") else str(user_data).encode()
    try:
        return base64.b64decode(raw).decode(errors="replace")
    except ValueError:
        return raw.decode(errors="replace")


class Reconciler:
    """Creates hosts for new running instances and removes hosts whose instance is gone."""

    def __init__(self, farm: HostFarm, desired: DesiredHosts) -> None:
        self.farm = farm
        self.desired = desired

    def step(self) -> None:
        """One pass: create missing hosts, remove stale ones, drop empty VPC namespaces."""
        wanted = {spec.instance_id: spec for spec in self.desired()}
        actual = self.farm.records()
        for instance_id, record in actual.items():
            if wanted.get(instance_id) != record.spec or not record.ready:
                self.farm.remove(record.spec)
        for instance_id, spec in wanted.items():
            current = actual.get(instance_id)
            if current is None or current.spec != spec or not current.ready:
                try:
                    self.farm.create(spec)
                except Exception:
                    log.exception("could not create the host of %s", instance_id)
                    self.farm.remove(spec)
        used = {self.farm.vpc_namespace(spec.vpc_id) for spec in wanted.values()}
        for namespace in self.farm.vpc_namespaces() - used:
            self.farm.remove_vpc_namespace(namespace)

    def run(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Reconcile until `stop` is set."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:
                log.exception("reconcile pass failed")
            stop.wait(interval)

    def teardown(self) -> None:
        """Remove every host and VPC namespace of this farm."""
        for record in self.farm.records().values():
            self.farm.remove(record.spec)
        for namespace in self.farm.vpc_namespaces():
            self.farm.remove_vpc_namespace(namespace)
