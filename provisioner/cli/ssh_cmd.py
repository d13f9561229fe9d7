"""`provision ssh ENV HOST [-- CMD...]`: a shell or a command on a VM, by Ansible's route."""

from __future__ import annotations

from typing import Annotated

import typer

from provisioner.cli.options import CloudOption, EnvArgument
from provisioner.cli.wiring import ProjectSetup
from provisioner.engine.run_record import new_run_id
from provisioner.errors import HostError
from provisioner.hosts.ssh import run_ssh

SSH_READY_TIMEOUT = 30.0


def ssh(
    environment: EnvArgument,
    host: Annotated[
        str, typer.Argument(metavar="HOST", help="A VM address (vm.web[0]) or host name (web-0).")
    ],
    command: Annotated[
        list[str] | None,
        typer.Argument(metavar="[-- CMD...]", help="Run this instead of a login shell."),
    ] = None,
    cloud: CloudOption = None,
) -> None:
    """Open a shell on a VM, or run CMD there, over the same SSH route Ansible uses.

    The exit code is the remote command's.
    """
    setup = ProjectSetup.of(environment, cloud)
    session = setup.open(new_run_id())
    outputs = session.cloud.outputs()
    vm = outputs.find_vm(host)
    key = outputs.private_keys.get(str(vm.key_pair)) if vm.key_pair else None
    if key is None:
        raise HostError(f"{vm.address} has no key pair, so it cannot be reached over SSH")
    route = session.reach.route(vm.id, vm.private_ip, timeout=SSH_READY_TIMEOUT)
    code = run_ssh(
        route,
        setup.paths.known_hosts(setup.compiled.environment.name),
        key,
        session.run_dir / "ssh",
        command or (),
    )
    raise typer.Exit(code)
