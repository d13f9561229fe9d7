"""The baseline: one Pulumi operation on an environment's stack, with no orchestration.

It builds the same inline program that `provision` would (from the same spec)
and runs it straight through Pulumi's Automation API, with the same state
location, passphrase, provider plugin and parallelism: no plan, lock, run
history, recovery, event translation or host configuration. It prints how long
the operation took, as JSON.

    .venv/bin/python bench/bare_pulumi.py up|preview|preview-refresh|refresh-preview|destroy ENV
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from pulumi import automation as auto

from provisioner.cli.specs import compile_ref
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.passphrase import passphrase_for
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.cloud.pulumi.workspace import EngineSettings, find_pulumi_cli
from provisioner.cloud.state_store import state_url
from provisioner.local.control import LocalCloud
from provisioner.paths import StatePaths
from stacks.program import build_program

PROJECT = "provision"  # the project name `provision` gives its stacks


def open_stack(environment: str) -> auto.Stack:
    """ENV's stack, selected (or created) with exactly the settings `provision` uses."""
    compiled = compile_ref(environment)
    env = compiled.environment
    paths = StatePaths.discover()
    endpoint = os.environ.get("PROVISION_LOCAL_ENDPOINT") or LocalCloud(paths.local).endpoint()
    target_env = local_cloud_env(endpoint, env.region)
    settings = EngineSettings(
        state_url=state_url(env.state, paths, target_env),
        pulumi_home=paths.pulumi_home,
        passphrase=passphrase_for(env.name, "local", paths.secrets),
        env=target_env,
    )
    cli = find_pulumi_cli()
    options = auto.LocalWorkspaceOptions(
        # The stack's own working folder, as `provision` uses (not a new temp folder a run).
        work_dir=str(settings.work_folder(env.name)),
        pulumi_home=str(settings.pulumi_home),
        env_vars=settings.engine_env(),
        project_settings=auto.ProjectSettings(
            name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=settings.state_url)
        ),
        pulumi_command=auto.PulumiCommand(root=str(Path(cli).parent.parent)),
    )
    return auto.create_or_select_stack(
        stack_name=env.name, project_name=PROJECT, program=build_program(compiled), opts=options
    )


def main() -> int:
    operation, environment = sys.argv[1], sys.argv[2]
    stack = open_stack(environment)
    parallel = DEFAULT_PARALLELISM
    started = time.monotonic()
    if operation == "up":
        result = stack.up(parallel=parallel, color="never")
        changes = result.summary.resource_changes
    elif operation in ("preview", "preview-refresh"):
        preview = stack.preview(
            parallel=parallel, refresh=operation == "preview-refresh", color="never"
        )
        changes = preview.change_summary
    elif operation == "refresh-preview":
        # What `pulumi refresh --preview-only` does.
        preview = stack.preview_refresh(parallel=parallel, color="never")
        changes = preview.change_summary
    elif operation == "destroy":
        result = stack.destroy(parallel=parallel, color="never")
        changes = result.summary.resource_changes
    else:
        print(f"unknown operation {operation}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    summary = {str(getattr(op, "value", op)): n for op, n in (changes or {}).items()}
    print(json.dumps({"operation": operation, "seconds": seconds, "changes": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
