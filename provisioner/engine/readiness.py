"""When each node of a run could start: the `NodeReady` events a timeline needs to tell
waiting (its dependencies done, the node not started) from working.

Pulumi and the host configurator schedule the nodes themselves; this sink only
watches what they report. A node is done when each of its resources this run
changes has finished well (for a role on a VM: when it is configured); a node the
run does not change counts as done from the start. A node is ready once every node
it depends on is done. Pulumi may start a resource sooner, since it waits only on
the resources it reads: the run record then counts it ready when it started.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from provisioner.engine.events import (
    ConfigureFinished,
    Event,
    EventSink,
    NodeReady,
    ResourceFinished,
    Status,
)
from provisioner.graph import ResourceGraph
from provisioner.spec.addresses import Address, ResourceAddress


class ReadinessSink:
    """Passes every event on, and emits `NodeReady` for each node of the run when it is."""

    def __init__(
        self, graph: ResourceGraph, changing: Iterable[ResourceAddress | Address], sink: EventSink
    ) -> None:
        self.graph = graph
        self.sink = sink
        self._lock = threading.Lock()
        self._left: dict[Address, set[str]] = {}
        for item in changing:
            node = item.node if isinstance(item, ResourceAddress) else item
            if node in graph:
                self._left.setdefault(node, set()).add(str(item))
        self._ready: set[Address] = set()

    def start(self) -> None:
        """Emit `NodeReady` for the nodes that depend on nothing this run changes."""
        self._emit_ready()

    def emit(self, event: Event) -> None:
        self.sink.emit(event)
        finished = None
        if isinstance(event, ResourceFinished) and event.status is Status.DONE:
            finished = (event.address.node, str(event.address))
        elif isinstance(event, ConfigureFinished) and event.status is Status.DONE:
            address = Address.parse(event.address)
            finished = (address, str(address))
        if finished is not None:
            node, item = finished
            with self._lock:
                self._left.get(node, set()).discard(item)
            self._emit_ready()

    def _emit_ready(self) -> None:
        with self._lock:
            waiting = {node for node, left in self._left.items() if left} - self._ready
            now = [
                node
                for node in sorted(waiting)
                if not any(self._left.get(d) for d in self.graph.dependencies(node))
            ]
            self._ready.update(now)
        for node in now:
            self.sink.emit(NodeReady(address=str(node)))
