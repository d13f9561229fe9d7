"""The local cloud's data plane: one reconcile loop over every kind of realized resource.

Each realizer turns one kind of what moto holds into real software on this
machine (instances into namespace hosts, load balancers into HAProxy, ...). A
pass runs every realizer's step in order, then removes the VPC namespaces that
no realizer uses any more. Teardown runs in reverse order.

A pass runs as soon as a request changes moto's state (the daemon sets the
`wake` event), and otherwise once per `IDLE_INTERVAL`: what changes outside
moto (a process that died, a health check's verdict, a database that now
accepts connections) is seen within that interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from provisioner.local.vpcnet import VpcNetworks

log = logging.getLogger(__name__)

# Seconds between passes when no request changes moto's state.
IDLE_INTERVAL = 1.0
# Seconds at least between two passes: a burst of changes (an `up` creating
# dozens of resources) is taken in a few passes, not one per request.
MIN_GAP = 0.2

T = TypeVar("T")


class Realizer(Protocol):
    """Makes one kind of local-cloud resource real, pass after pass."""

    name: str

    def step(self) -> None:
        """One pass: start, change and remove what differs from moto's state."""

    def vpcs_in_use(self) -> set[str]:
        """The ids of the VPCs whose namespace this realizer has something in."""

    def teardown(self) -> None:
        """Remove everything this realizer started."""


class MotoReader:
    """Reads moto's in-process state under the lock that serializes its requests."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __call__(self, read: Callable[[], T]) -> T:
        with self.lock:
            return read()


class DataPlane:
    """Runs the realizers until stopped, and drops VPC namespaces nothing uses."""

    def __init__(self, realizers: Sequence[Realizer], networks: VpcNetworks) -> None:
        self.realizers = tuple(realizers)
        self.networks = networks

    def step(self) -> None:
        used: set[str] = set()
        for realizer in self.realizers:
            try:
                realizer.step()
            except Exception:
                log.exception("reconcile pass of %s failed", realizer.name)
            used |= {self.networks.vpc_namespace(vpc) for vpc in realizer.vpcs_in_use()}
        for namespace in self.networks.vpc_namespaces() - used:
            self.networks.remove_vpc_namespace(namespace)

    def run(
        self, stop: threading.Event, wake: threading.Event, interval: float = IDLE_INTERVAL
    ) -> None:
        """Reconcile until `stop` is set (set `wake` with it): a pass after `wake` is set,
        and one every `interval` seconds; never two within `MIN_GAP` seconds."""
        while not stop.is_set():
            wake.clear()  # a change during this pass wakes the next one
            try:
                self.step()
            except Exception:
                log.exception("reconcile pass failed")
            if not stop.wait(MIN_GAP):
                wake.wait(max(interval - MIN_GAP, 0.0))

    def teardown(self) -> None:
        """Remove everything every realizer started, then every VPC namespace."""
        for realizer in reversed(self.realizers):
            try:
                realizer.teardown()
            except Exception:
                log.exception("teardown of %s failed", realizer.name)
        for namespace in self.networks.vpc_namespaces():
            self.networks.remove_vpc_namespace(namespace)
