"""Realizes instances: make the namespace hosts match the running and stopped instances."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from provisioner.local.cloudinit import parse_user_data
from provisioner.local.hosts import HostFarm, HostSpec, HostState, PowerState

log = logging.getLogger(__name__)

# Instance states whose host keeps its disk; running ones are served, others are gone.
_POWERED = {"pending": PowerState.RUNNING, "running": PowerState.RUNNING}
_POWERED_OFF = {"stopping": PowerState.STOPPED, "stopped": PowerState.STOPPED}


@dataclass(frozen=True)
class DesiredHost:
    """An instance that has a host: what the host should be, and whether it runs."""

    spec: HostSpec
    power: PowerState


DesiredHosts = Callable[[], Iterable[DesiredHost]]


def moto_instances() -> list[DesiredHost]:
    """Every running or stopped instance in this process's moto backends, as a desired host."""
    from moto.ec2.models import ec2_backends  # the daemon serves moto in-process

    found = []
    for _account, regions in list(ec2_backends.items()):
        for _region, backend in list(regions.items()):
            for instance in backend.all_instances():
                address = instance.private_ip
                power = _POWERED.get(instance.state) or _POWERED_OFF.get(instance.state)
                if power is None or not instance.subnet_id or not address:
                    continue
                subnet = backend.get_subnet(instance.subnet_id)
                config = parse_user_data(_decoded(instance.user_data))
                spec = HostSpec(
                    instance_id=instance.id,
                    vpc_id=str(instance.vpc_id),
                    vpc_cidr=backend.get_vpc(str(instance.vpc_id)).cidr_block,
                    subnet_id=instance.subnet_id,
                    subnet_cidr=subnet.cidr_block,
                    private_ip=address,
                    hostname=config.hostname or f"ip-{address.replace('.', '-')}",
                    authorized_keys=config.authorized_keys,
                    instance_type=str(instance.instance_type),
                )
                found.append(DesiredHost(spec, power))
    return found


def _decoded(user_data: object) -> str:
    if not user_data:
        return ""
    raw = user_data.as_bytes() if hasattr(user_data, "as_bytes") else str(user_data).encode()
    try:
        return base64.b64decode(raw).decode(errors="replace")
    except ValueError:
        return raw.decode(errors="replace")


class HostReconciler:
    """Makes each instance's host match it: running, stopped (disk kept), or gone."""

    name = "hosts"

    def __init__(self, farm: HostFarm, desired: DesiredHosts) -> None:
        self.farm = farm
        self.desired = desired
        self._vpcs: dict[str, str] = {}  # id -> CIDR, of the VPCs with running hosts

    def step(self) -> None:
        """One pass: start, stop and remove hosts."""
        desired = {host.spec.instance_id: host for host in self.desired()}
        for instance_id, record in self.farm.records().items():
            host = desired.get(instance_id)
            if host is None:
                self.farm.remove(record.spec)  # terminated, or unknown to this cloud
            elif host.power is PowerState.STOPPED:
                if record.state is not HostState.STOPPED or record.spec != host.spec:
                    self.farm.stop(host.spec)
            elif record.ready and record.spec == replace(
                host.spec, instance_type=record.spec.instance_type
            ):
                if record.spec != host.spec:
                    self.farm.resize(host.spec)  # a new type alone: new limits, in place
            elif record.spec != host.spec or record.state is HostState.BOOTING:
                # Changed while running, or a boot that did not finish: boot it again.
                self.farm.stop(host.spec)
        running = [h.spec for h in desired.values() if h.power is PowerState.RUNNING]
        for spec in running:
            current = self.farm.record(spec.instance_id)
            if current is None or not current.ready:
                try:
                    self.farm.create(spec)
                except Exception:
                    log.exception("could not start the host of %s", spec.instance_id)
                    self.farm.stop(spec)
        self._vpcs = {spec.vpc_id: spec.vpc_cidr for spec in running}

    def vpcs_in_use(self) -> set[str]:
        return set(self._vpcs)

    def vpc_cidrs(self) -> dict[str, str]:
        """The VPCs with running hosts (as of the last pass), by id: their CIDR blocks."""
        return dict(self._vpcs)

    def teardown(self) -> None:
        """Remove every host of this farm."""
        for record in self.farm.records().values():
            self.farm.remove(record.spec)
        self._vpcs = {}
