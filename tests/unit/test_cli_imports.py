"""Every `provision` command pays for what the CLI imports at start: the web view's framework
and server and the watch's scheduler are imported only by the commands that use them."""

from __future__ import annotations

import subprocess
import sys

ONLY_WHEN_USED = ("fastapi", "uvicorn", "starlette", "jinja2", "apscheduler")


def test_the_cli_starts_without_the_web_framework_or_the_scheduler() -> None:
    probe = (
        "import sys, provisioner.cli.app; "
        f"print(' '.join(m for m in {ONLY_WHEN_USED!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
