"""An nftables rule in the main network namespace that counts, and drops, private-range packets.

The local cloud's hosts live in network namespaces of their own; the main
namespace has no route into a VPC, and its default route leads off the machine.
So isolation is never tested by connecting to a VPC address. Instead this rule
sits on the main namespace's output path: any packet for 10.0.0.0/8,
172.16.0.0/12 or 192.168.0.0/16 (bar the machine's own nameservers, from
/etc/resolv.conf) is counted and dropped. A count of 0 after a run means nothing
tried to leave that way; and anything that tried did not get out.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The IPv4 nameservers the machine resolves names with."""
    found = []
    for line in resolv_conf.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
            found.append(parts[1])
    return found


class PrivateTrafficCounter:
    """The installed rule; `dropped()` reads its counter."""

    def __init__(self, table: str) -> None:
        self.table = table

    def dropped(self) -> int:
        listing = json.loads(nft("-j", "list", "chain", "inet", self.table, "out"))
        for item in listing["nftables"]:
            for expression in (item.get("rule") or {}).get("expr", []):
                if "counter" in expression:
                    return int(expression["counter"]["packets"])
        raise AssertionError(f"no counter in table {self.table}: {listing}")

    def hooked_on_output(self) -> bool:
        listing = json.loads(nft("-j", "list", "chain", "inet", self.table, "out"))
        chains = [item["chain"] for item in listing["nftables"] if "chain" in item]
        return any(chain.get("hook") == "output" for chain in chains)


@contextmanager
def counting_private_traffic() -> Iterator[PrivateTrafficCounter]:
    """Install the counting drop rule for the block's length; removed even on failure."""
    table = f"provision_guard_{os.getpid()}"
    nft("add", "table", "inet", table)
    try:
        nft("add", "chain", "inet", table, "out", "{ type filter hook output priority 0; }")
        for server in nameservers():
            nft("add", "rule", "inet", table, "out", "ip", "daddr", server, "accept")
        ranges = "{ " + ", ".join(PRIVATE_RANGES) + " }"
        nft("add", "rule", "inet", table, "out", "ip", "daddr", ranges, "counter", "drop")
        yield PrivateTrafficCounter(table)
    finally:
        nft("delete", "table", "inet", table)


def nft(*args: str) -> str:
    return subprocess.run(["nft", *args], capture_output=True, text=True, check=True).stdout
