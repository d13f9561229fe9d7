"""The one module that runs PostgreSQL: initdb, postgres, pg_isready and psql (Debian's).

A database server runs in its database's network namespace and in a mount
namespace of its own. Its folder (the data directory, its configuration) lives
under the local cloud's state folder, whose parents only root may traverse, so
the boot script bind-mounts it at `SERVER_MOUNT`, on a private tmpfs, where the
`postgres` user can reach it. On first boot it initialises the cluster with the
master user and the password from a 0600 file that it deletes right after, and
creates the database in single-user mode; then it becomes the server.

The server listens only on its database's address, has no Unix socket, and
accepts password (SCRAM) logins from the VPC's addresses only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import LocalCloudError

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_MOUNT = "/run/provision-db"
SERVER_USER = "postgres"


@dataclass(frozen=True)
class ServerConfig:
    """What one PostgreSQL server is: its version, address, network and first database."""

    major: str
    address: str
    port: int
    vpc_cidr: str
    master_username: str
    db_name: str | None


def served_majors(root: Path = PG_ROOT) -> tuple[str, ...]:
    """The PostgreSQL major versions installed here (each /usr/lib/postgresql/N/bin/postgres)."""
    if not root.is_dir():
        return ()
    found = [d.name for d in root.iterdir() if (d / "bin" / "postgres").is_file()]
    return tuple(sorted(found, key=_version_key))


def _version_key(major: str) -> tuple[int, ...]:
    return tuple(int(part) for part in major.split(".") if part.isdigit())


def installed_version(major: str, root: Path = PG_ROOT) -> str:
    """The full version of an installed major, e.g. "15.18" (the major alone if unknown)."""
    result = subprocess.run(
        [str(root / major / "bin" / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"\)\s+(\d+(?:\.\d+)*)", result.stdout)
    return found.group(1) if found else major


def major_of(version: str) -> str:
    """The major version: "15" of "15.4"; before 10 the first two parts ("9.6" of "9.6.24")."""
    parts = version.strip().split(".")
    if parts[0].isdigit() and int(parts[0]) < 10 and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def version_refusal(engine: str | None, version: str | None, served: tuple[str, ...]) -> str | None:
    """Why the local cloud cannot serve this engine and version, or None if it can."""
    if engine != "postgres":
        return f"the local cloud serves engine postgres only; engine {engine} is not available"
    if served and (version is None or major_of(version) in served):
        return None
    found = ", ".join(str(PG_ROOT / major / "bin") for major in served) or f"nothing in {PG_ROOT}"
    return (
        f"the local cloud serves PostgreSQL {', '.join(served) or '(none)'} only "
        f"(found: {found}); engine version {version or '(default)'} is not available"
    )


def render_conf(config: ServerConfig) -> str:
    """postgresql.conf: listen on the database's address only, no Unix socket, small memory."""
    return "\n".join(
        [
            f"data_directory = '{SERVER_MOUNT}/data'",
            f"hba_file = '{SERVER_MOUNT}/pg_hba.conf'",
            f"ident_file = '{SERVER_MOUNT}/data/pg_ident.conf'",
            f"listen_addresses = '{config.address}'",
            f"port = {config.port}",
            "unix_socket_directories = ''",
            "password_encryption = 'scram-sha-256'",
            "max_connections = 50",
            "shared_buffers = 16MB",
            "dynamic_shared_memory_type = posix",
            "log_destination = 'stderr'",
            "",
        ]
    )


def render_hba(config: ServerConfig) -> str:
    """pg_hba.conf: password logins from the VPC's addresses, nothing else."""
    return (
        "# TYPE  DATABASE  USER  ADDRESS  METHOD\n"
        f"host    all       all   {config.vpc_cidr}  scram-sha-256\n"
    )


def quote_identifier(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def render_setup_sql(config: ServerConfig) -> str:
    """What single-user mode runs once after initdb: create the database, if any."""
    if not config.db_name or config.db_name == "postgres":
        return ""
    return f"CREATE DATABASE {quote_identifier(config.db_name)}\n"


def boot_script(config: ServerConfig, folder: Path) -> str:
    """Runs as root in the database's network and new mount namespace; becomes its server."""
    bin_dir = PG_ROOT / config.major / "bin"
    as_postgres = f"setpriv --reuid={SERVER_USER} --regid={SERVER_USER} --init-groups"
    return f"""#!/bin/sh
set -eu
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p {SERVER_MOUNT}
mount --bind "{folder}" {SERVER_MOUNT}
cd {SERVER_MOUNT}
if [ ! -s data/PG_VERSION ]; then
    rm -rf data
    {as_postgres} {bin_dir}/initdb -D {SERVER_MOUNT}/data -U "$MASTER_USERNAME" \\
        --pwfile={SERVER_MOUNT}/pwfile -A scram-sha-256 -E UTF8 --no-sync --no-instructions \\
        || {{ rm -f pwfile; exit 1; }}
    rm -f pwfile
    {as_postgres} {bin_dir}/postgres --single -D {SERVER_MOUNT}/data postgres < setup.sql
fi
rm -f pwfile
exec {as_postgres} {bin_dir}/postgres -D {SERVER_MOUNT}/data \\
    -c config_file={SERVER_MOUNT}/postgresql.conf
"""


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (so SQL never holds it)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    encoded = [
        base64.b64encode(part).decode()
        for part in (salt, hashlib.sha256(client_key).digest(), server_key)
    ]
    return f"SCRAM-SHA-256${iterations}:{encoded[0]}${encoded[1]}:{encoded[2]}"


def change_password(namespace: str, config: ServerConfig, current: str, new: str) -> None:
    """Set the master user's password on the running server, logging in with the current one."""
    sql = (
        f"ALTER ROLE {quote_identifier(config.master_username)} PASSWORD '{scram_verifier(new)}'\n"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, str(PG_ROOT / config.major / "bin" / "psql"),
         "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", config.address, "-p", str(config.port),
         "-U", config.master_username, "-d", "postgres"],
        input=sql,
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSWORD": current},
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LocalCloudError(
            f"could not change the master password of the server at {config.address}: "
            f"{result.stderr.strip()}"
        )


def prepare(folder: Path, config: ServerConfig, password: str | None) -> None:
    """Write the server's files into `folder` (owned by postgres); the password only if new."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {
        "postgresql.conf": render_conf(config),
        "pg_hba.conf": render_hba(config),
        "setup.sql": render_setup_sql(config),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    if password is not None and not (folder / "data" / "PG_VERSION").exists():
        pwfile = folder / "pwfile"
        pwfile.unlink(missing_ok=True)
        descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"{password}\n")
    for path in [folder, *folder.iterdir()]:
        if path.name != "data":
            shutil.chown(path, SERVER_USER, SERVER_USER)


def start(
    namespace: str, folder: Path, config: ServerConfig, script: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start the boot script in `namespace` with a new mount namespace; return its process."""
    script.write_text(boot_script(config, folder))
    script.chmod(0o700)
    with log.open("ab") as output:
        return subprocess.Popen(
            ["ip", "netns", "exec", namespace,
             "unshare", "--mount", "--propagation", "private", "/bin/sh", str(script)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                 "MASTER_USERNAME": config.master_username},
            start_new_session=True,
        )  # fmt: skip


def accepts_connections(namespace: str, config: ServerConfig) -> bool:
    """Whether the server answers at its address (pg_isready, run inside its namespace)."""
    probe = subprocess.run(
        ["ip", "netns", "exec", namespace, str(PG_ROOT / config.major / "bin" / "pg_isready"),
         "-q", "-h", config.address, "-p", str(config.port), "-t", "1"],
        capture_output=True,
        check=False,
    )  # fmt: skip
    return probe.returncode == 0


def stop(server: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """Fast shutdown (SIGINT) of a server this process started, and reap it.

    Signals go through the Popen object, which sends none once the process is reaped,
    so a recycled pid is never signalled.
    """
    if server is None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)
