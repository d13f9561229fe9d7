"""Routes to hosts on a real cloud: straight to the VM's address."""

from __future__ import annotations

from provisioner.engine.ports import SshRoute


class DirectReach:
    """Connects to the VM's private address directly, as from a runner inside the VPC."""

    def route(self, instance_id: str, address: str, *, timeout: float) -> SshRoute:
        return SshRoute(address=address, host_key_alias=instance_id)

    def wait_gone(self, instance_ids: list[str], *, timeout: float) -> None:
        return None  # a real cloud's terminated instance is gone with it
