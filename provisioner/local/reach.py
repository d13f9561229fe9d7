"""SSH routes to the local cloud's hosts: only through their VPC's namespace.

The machine's main namespace has no route to a VPC address (its default route
would leave the machine), so every connection enters the VPC namespace with a
ProxyCommand. Only hosts that this local cloud realized are reachable.
"""

from __future__ import annotations

import time

from provisioner.engine.ports import SshRoute
from provisioner.errors import HostError, UnsafeEndpointError
from provisioner.local.hosts import HostFarm, HostRecord


class LocalReach:
    """Finds the route to a namespace host once its sshd listens."""

    def __init__(self, farm: HostFarm, poll_seconds: float = 0.1) -> None:
        self.farm = farm
        self.poll_seconds = poll_seconds

    def route(self, instance_id: str, address: str, *, timeout: float) -> SshRoute:
        """Wait for the host of `instance_id`, check `address` is its own, route via its VPC."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.farm.record(instance_id)
            if record is not None and record.ready:
                return self._route(record, address)
            if time.monotonic() >= deadline:
                raise HostError(
                    f"the local host of {instance_id} ({address}) was not up after {timeout:.0f}s",
                    hint=f"see {self.farm.folder(instance_id)}/sshd.log and the local cloud's log",
                )
            time.sleep(self.poll_seconds)

    def wait_gone(self, instance_ids: list[str], *, timeout: float) -> None:
        """Wait until the local cloud's data plane has removed these instances' hosts."""
        deadline = time.monotonic() + timeout
        remaining = list(instance_ids)
        while remaining:
            remaining = [i for i in remaining if self.farm.folder(i).exists()]
            if remaining and time.monotonic() >= deadline:
                raise HostError(
                    f"hosts still present {timeout:.0f}s after their instances were deleted: "
                    + ", ".join(remaining),
                    hint="see the local cloud's log",
                )
            if remaining:
                time.sleep(self.poll_seconds)

    def _route(self, record: HostRecord, address: str) -> SshRoute:
        spec = record.spec
        if spec.private_ip != address:
            raise UnsafeEndpointError(
                address, f"it is not the address of local host {spec.instance_id}"
            )
        namespace = self.farm.vpc_namespace(spec.vpc_id)
        return SshRoute(
            address=address,
            host_key_alias=spec.instance_id,
            proxy_command=f"ip netns exec {namespace} nc %h %p",
            # The image's own Python: no interpreter discovery on every run.
            python_interpreter="/usr/bin/python3",
        )
