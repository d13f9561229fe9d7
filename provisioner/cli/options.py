"""The arguments and options the commands share, as typer's annotated types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from provisioner.spec.model import Cloud

EnvArgument = Annotated[
    str, typer.Argument(metavar="ENV", help="A name in environments/ or a path to a YAML file.")
]
OptionalEnvArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="ENV", help="A name in environments/ or a path to a YAML file (or use --all)."
    ),
]
WithDepsFlag = Annotated[
    bool, typer.Option("--with-deps", help="Also the environments ENV uses, each first.")
]
WithDependentsFlag = Annotated[
    bool,
    typer.Option("--with-dependents", help="Also the environments that use ENV, each after it."),
]
AllFlag = Annotated[
    bool,
    typer.Option("--all", help="Every environment in environments/, in the order of `uses`."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CloudOption = Annotated[
    Cloud | None,
    typer.Option(
        "--cloud",
        help="Run on this cloud instead of the spec's (`local` tries prod here).",
    ),
]
YesFlag = Annotated[
    bool, typer.Option("--yes", "-y", help="Apply without asking (required without a terminal).")
]
ParallelismOption = Annotated[
    int,
    typer.Option(
        "--parallelism",
        min=1,
        metavar="N",
        help="Run at most N cloud operations (and configure at most N hosts) at once.",
    ),
]
NoHostsFlag = Annotated[
    bool,
    typer.Option("--no-hosts", help="The cloud only; skip Ansible's check mode on existing VMs."),
]
DetailedExitcodeFlag = Annotated[
    bool,
    typer.Option(
        "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes, 1 for an error."
    ),
]
PlanOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="PLAN",
        help="Save the plan to this file, for `up --plan` (holds the environment's lock).",
    ),
]
SavedPlanOption = Annotated[
    Path | None,
    typer.Option(
        "--plan",
        metavar="PLAN",
        help="Apply exactly this saved plan; refused if the spec, state or cloud changed.",
    ),
]
NoRollbackFlag = Annotated[
    bool,
    typer.Option(
        "--no-rollback",
        help="On failure, keep what this run created (for debugging) instead of deleting it.",
    ),
]
