"""PulumiCloud: the cloud backend of one environment, as one Pulumi stack.

It implements the engine's CloudBackend protocol on top of `pulumi_engine`,
with the inline program that `stacks.program` builds from the compiled graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.cloud.passphrase import passphrase_for
from provisioner.cloud.pulumi_engine import EngineSettings, PulumiStack
from provisioner.cloud.state_backend import backend_url
from provisioner.engine.events import EventSink
from provisioner.engine.ports import EnvironmentOutputs, VmOutput
from provisioner.graph import CompiledEnvironment
from provisioner.paths import StatePaths
from provisioner.plan import Plan
from stacks.program import PRIVATE_KEYS_OUTPUT, SPEC_OUTPUTS, VMS_OUTPUT, build_program

PROJECT = "provision"


@dataclass(frozen=True)
class CloudTarget:
    """Which cloud the stack talks to: the local cloud's environment variables, or AWS's own."""

    cloud: str  # "local" | "aws"
    env: Mapping[str, str]


class PulumiCloud:
    """One environment's cloud resources, managed as one Pulumi stack."""

    def __init__(
        self, compiled: CompiledEnvironment, target: CloudTarget, paths: StatePaths
    ) -> None:
        env = compiled.environment
        self.environment = env.name
        settings = EngineSettings(
            backend_url=backend_url(env.state, paths, target.env),
            pulumi_home=paths.pulumi_home,
            passphrase=passphrase_for(env.name, target.cloud, paths.secrets),
            env=target.env,
        )
        self._stack = PulumiStack(PROJECT, env.name, build_program(compiled), settings)

    def preview(self, sink: EventSink) -> Plan:
        return self._stack.plan(self.environment, refresh=True, sink=sink)

    def preview_destroy(self, sink: EventSink) -> Plan:
        return self._stack.plan_destroy(self.environment, sink=sink)

    def apply(self, sink: EventSink) -> EnvironmentOutputs:
        result = self._stack.up(refresh=True, sink=sink)
        return to_environment_outputs(self.environment, result.outputs)

    def destroy(self, sink: EventSink) -> None:
        self._stack.destroy(sink=sink)

    def outputs(self) -> EnvironmentOutputs:
        return to_environment_outputs(self.environment, self._stack.outputs())


def to_environment_outputs(environment: str, raw: Mapping[str, Any]) -> EnvironmentOutputs:
    """The stack's exports as typed outputs."""
    vms = {
        address: VmOutput(
            address=address,
            id=str(vm.get("id") or ""),
            private_ip=str(vm.get("private_ip") or ""),
            public_ip=str(vm.get("public_ip") or ""),
            subnet=str(vm.get("subnet") or ""),
            roles=tuple(vm.get("roles") or ()),
            hostname=str(vm.get("hostname") or ""),
            key_pair=vm.get("key_pair"),
        )
        for address, vm in sorted((raw.get(VMS_OUTPUT) or {}).items())
    }
    return EnvironmentOutputs(
        environment=environment,
        vms=vms,
        values=dict(raw.get(SPEC_OUTPUTS) or {}),
        private_keys=dict(raw.get(PRIVATE_KEYS_OUTPUT) or {}),
    )
