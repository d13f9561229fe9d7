"""The environment of every ansible-playbook run: Ansible's settings, Mitogen's strategy,
and the folder of the run's shared SSH connections."""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Mapping
from pathlib import Path


def _mitogen_strategies() -> Path:
    spec = importlib.util.find_spec("ansible_mitogen")
    assert spec is not None and spec.submodule_search_locations, "mitogen is a dependency"
    return Path(next(iter(spec.submodule_search_locations))) / "plugins" / "strategy"


MITOGEN_STRATEGIES = _mitogen_strategies()


def ansible_environment(
    *, ansible_home: Path, local_temp: Path, control_dir: Path, run_env: Mapping[str, str]
) -> dict[str, str]:
    """Environment variables for one run (`run_env` marks the run's processes)."""
    return {
        **run_env,
        "ANSIBLE_HOME": str(ansible_home),
        "ANSIBLE_LOCAL_TEMP": str(local_temp),
        # Mitogen's strategy: one Python per host for the whole run, so a task
        # costs no interpreter start or module unpacking on the host.
        "ANSIBLE_STRATEGY_PLUGINS": str(MITOGEN_STRATEGIES),
        "ANSIBLE_STRATEGY": "mitogen_linear",
        # Ansible's own SSH connection (a play that names another strategy) shares them.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_SSH_RETRIES": "3",
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_TIMEOUT": "20",
    }


# A Unix socket's path holds at most 107 bytes. Ansible names a control socket with a
# 10-character hash in its folder, and ssh adds a 17-character temporary suffix.
_SOCKET_PATH_MAX = 107
_SOCKET_NAME = 1 + 10 + 17


def shared_connections_dir(run_id: str) -> Path:
    """Where one run's SSH control sockets live (known by run id, so a later run can clean up).

    In the temp folder, unless its path is too long for a socket path (a deep
    TMPDIR): then in /tmp.
    """
    folder = Path(tempfile.gettempdir()) / f"provision-ssh-{run_id}"
    if len(str(folder).encode()) + _SOCKET_NAME > _SOCKET_PATH_MAX:
        folder = Path("/tmp") / folder.name  # noqa: S108 - the short fallback
    return folder
