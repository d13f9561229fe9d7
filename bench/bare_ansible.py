"""The baseline for PF4a: a bare `ansible-playbook` of one playbook on an environment's VMs.

No ansible-runner, no Mitogen, no batching, no events: Ansible's own linear
strategy with forks = the number of hosts and pipelining on, over the same SSH
options and route `provision` uses (the VPC namespace's ProxyCommand, the key
pair's key, host keys accepted on first use into a fresh known_hosts file) and
the same connection settings (`hosts/ansible_env.py`: shared connections,
retries, timeout).
It prints the playbook's wall time and the tasks it ran, as JSON.

    .venv/bin/python bench/bare_ansible.py ENV PLAYBOOK
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provisioner.cli.wiring import ProjectSetup
from provisioner.engine.run_record import new_run_id
from provisioner.hosts.ssh import LOGIN_USER, ansible_ssh_args, close_shared_connections

READY_TIMEOUT = 60.0


def inventory(environment: str, folder: Path) -> tuple[dict[str, object], Path]:
    """ENV's VMs as an inventory (ssh routes from the local cloud), and its control folder."""
    setup = ProjectSetup.of(environment)
    session = setup.open(new_run_id())
    outputs = session.cloud.outputs()
    known_hosts = folder / "known_hosts"
    hosts: dict[str, object] = {}
    for vm in outputs.vms.values():
        key = outputs.private_keys[str(vm.key_pair)]
        key_file = folder / f"{vm.hostname}.key"
        key_file.write_text(key if key.endswith("\n") else f"{key}\n")
        key_file.chmod(0o600)
        route = session.reach.route(vm.id, vm.private_ip, timeout=READY_TIMEOUT)
        hosts[vm.hostname] = {
            "ansible_host": route.address,
            "ansible_user": LOGIN_USER,
            "ansible_ssh_common_args": ansible_ssh_args(route, known_hosts),
            "ansible_ssh_private_key_file": str(key_file),
            **(
                {"ansible_python_interpreter": route.python_interpreter}
                if route.python_interpreter
                else {}
            ),
        }
    return {"all": {"hosts": hosts}}, Path(tempfile.mkdtemp(prefix="pf4a-ssh-", dir="/tmp"))


def main() -> int:
    environment, playbook = sys.argv[1], Path(sys.argv[2]).resolve()
    with tempfile.TemporaryDirectory(prefix="pf4a-") as name:
        folder = Path(name)
        hosts, control_dir = inventory(environment, folder)
        (folder / "inventory.json").write_text(json.dumps(hosts))
        count = len(hosts["all"]["hosts"])  # type: ignore[index]
        env = {
            **os.environ,
            "ANSIBLE_HOME": str(folder / "home"),
            "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
            "ANSIBLE_SSH_RETRIES": "3",
            "ANSIBLE_TIMEOUT": "20",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            "ANSIBLE_NOCOLOR": "1",
        }
        argv = [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(folder / "inventory.json"),
            "-f",
            str(count),
            str(playbook),
        ]
        try:
            started = time.time()
            done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            ended = time.time()
        finally:
            close_shared_connections(control_dir)
            shutil.rmtree(control_dir, ignore_errors=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
        return 1
    recap = re.findall(r"ok=(\d+)\s+changed=(\d+)", done.stdout)
    tasks = sum(int(ok) for ok, _ in recap)
    print(json.dumps({"started": started, "ended": ended, "hosts": count, "tasks": tasks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
