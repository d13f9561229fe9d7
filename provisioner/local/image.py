"""The hosts' base image: a minimal Debian root, built once (the one module that runs mmdebstrap).

What a cloud image has and no more: sshd, python3, sudo, CA certificates, curl,
and tini, the init that reaps orphans as a host's PID 1. It is built from the
Debian repository this machine's apt uses, through the package cache
(aptcache.py), into a machine-wide folder outside any clone. The image carries no
SSH host keys (each host gets its own) and no proxy setting (each host gets its
VPC's, as DHCP options would give it). Its package lists and apt's package
cache are kept, so a role's `apt` task installs without an `apt-get update`.

A host's root is an overlay with the image as its read-only lower layer.
`python -m provisioner.local.image` builds it (`make setup` runs that).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import LocalCloudError, ProvisionError, ToolMissingError
from provisioner.fsutil import atomic_write_json, read_json
from provisioner.local.aptcache import LISTEN_ADDRESS, PackageCache, cache_root

MMDEBSTRAP = "/usr/bin/mmdebstrap"
PACKAGES = (
    "openssh-server", "python3", "sudo", "ca-certificates", "tini", "curl",
    "netcat-openbsd", "iproute2", "procps", "init-system-helpers", "less",
    # What Ansible's apt module needs (it would install it on every host's first use).
    "python3-apt",
)  # fmt: skip
# Bump when the build changes in a way the package list does not show.
FORMAT = 3
SETUP_HINT = "run `make setup`, which builds the hosts' image"


@dataclass(frozen=True)
class Image:
    """A built image: its root folder, and what it was built from."""

    root: Path
    suite: str
    mirror: str
    seconds: float
    bytes: int


def image_folder(suite: str) -> Path:
    """Where the image of `suite` with this module's package list lives."""
    digest = hashlib.sha256(json.dumps([FORMAT, suite, PACKAGES]).encode()).hexdigest()[:10]
    return cache_root() / "images" / f"debian-{suite}-{digest}"


def machine_suite() -> str:
    """This machine's Debian release (its codename): the hosts run the same."""
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    raise LocalCloudError("cannot tell this machine's Debian release from /etc/os-release")


def machine_mirror(suite: str) -> str:
    """The Debian repository this machine's apt uses for `suite` (an http one: cacheable)."""
    candidates: list[str] = []
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (line.partition(":") for line in stanza.splitlines())
            )
            if (
                suite in fields.get("suites", "").split()
                and "main" in fields.get("components", "").split()
            ):
                candidates += fields.get("uris", "").split()
    listing = Path("/etc/apt/sources.list")
    if listing.is_file():
        for line in listing.read_text().splitlines():
            match = re.match(rf"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{suite}\s+.*\bmain\b", line)
            if match:
                candidates.append(match.group(1))
    for uri in candidates:
        if uri.startswith("http://"):
            return uri
    raise LocalCloudError(
        f"no http Debian repository for {suite} in this machine's apt sources",
        hint="the package cache proxies http repositories; add one to /etc/apt/sources.list.d",
    )


def built_image(suite: str | None = None) -> Image:
    """The image hosts boot from; a clear error if `make setup` has not built it."""
    folder = image_folder(suite or machine_suite())
    data = read_json(folder / "image.json")
    if not isinstance(data, dict) or not (folder / "root" / "usr/sbin/sshd").exists():
        raise LocalCloudError(f"the hosts' image is not built ({folder})", hint=SETUP_HINT)
    return Image(folder / "root", data["suite"], data["mirror"], data["seconds"], data["bytes"])


def build(package_cache: PackageCache, suite: str | None = None) -> Image:
    """Build the image unless it exists; returns it."""
    suite = suite or machine_suite()
    folder = image_folder(suite)
    with contextlib.suppress(LocalCloudError):  # not built yet: build it below
        return built_image(suite)
    if not Path(MMDEBSTRAP).exists():
        raise ToolMissingError("mmdebstrap", hint="run `make setup`")
    mirror = machine_mirror(suite)
    staging = folder.with_name(f"{folder.name}.building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    port = package_cache.start()
    started = time.monotonic()
    command = [
        MMDEBSTRAP,
        "--quiet",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        f'--aptopt=Acquire::http::Proxy "http://{LISTEN_ADDRESS}:{port}"',
        "--skip=cleanup/apt/lists",
        "--skip=cleanup/apt/cache",
        # No proxy setting and no SSH host keys in the image: each host gets its own.
        '--customize-hook=rm -f "$1"/etc/apt/apt.conf.d/99mmdebstrap "$1"/etc/ssh/ssh_host_*',
        # apt's package cache built once here, not on every host's first `apt` (1.1 s of
        # CPU each); no source-package cache (35 MiB in every host's layer, never read).
        '--customize-hook=rm -rf "$1"/var/cache/apt/archives/*.deb'
        ' && echo \'Dir::Cache::srcpkgcache "";\' > "$1"/etc/apt/apt.conf.d/00no-srcpkgcache'
        ' && chroot "$1" apt-cache gencaches && rm -f "$1"/var/cache/apt/srcpkgcache.bin',
        suite,
        str(staging / "root"),
        f"deb {mirror} {suite} main",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LocalCloudError(
            f"building the hosts' image failed: {result.stderr.strip()[-2000:]}",
            hint=f"see the package cache's log in {package_cache.log_dir}",
        )
    size = int(subprocess.run(
        ["du", "-sb", str(staging / "root")], capture_output=True, text=True, check=True
    ).stdout.split()[0])  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    atomic_write_json(
        staging / "image.json",
        {"suite": suite, "mirror": mirror, "seconds": seconds, "bytes": size,
         "packages": list(PACKAGES)},
    )  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return built_image(suite)


def main(argv: list[str] | None = None) -> int:
    """`python -m provisioner.local.image [--state-dir DIR]`: build the image once."""
    parser = argparse.ArgumentParser(prog="provisioner.local.image", description=__doc__)
    parser.add_argument("--work-dir", type=Path, default=cache_root() / "image-build")
    args = parser.parse_args(argv)
    cache = PackageCache(args.work_dir / "apt-cacher-ng")
    try:
        image = build(cache)
    except ProvisionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        cache.stop()
    size = f"{image.bytes / 2**20:.0f} MiB"
    print(f"hosts' image: {image.root} ({size}, built in {image.seconds:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
