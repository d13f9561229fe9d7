"""Walk a DAG in parallel: each node runs once all its dependencies succeeded.

Nothing here knows about infrastructure. Some nodes are *external*: the walker
does not run them, it waits for `complete(node, ok)` from outside (for example
cloud resources finished by another engine). A node whose dependency failed or
was skipped is skipped, and so are its dependents.

With `Batching`, nodes that become ready at about the same time and share a
batch key run together in one call: a group waits for a short settle window
after its latest member became ready (capped from its first), or runs at once
when waiting cannot grow it: every other node with its key that has not run yet
can only become ready through the group itself.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class WalkTimeoutError(TimeoutError):
    """`Walker.wait` ran out of time before every node had an outcome."""


@dataclass(frozen=True)
class Batching(Generic[N]):
    """Run ready nodes that share `key(node)` together: `run(nodes)` returns the failed ones.

    A node missing from the returned mapping succeeded; if `run` raises, every
    node of the batch fails with that error. `size` bounds a batch.
    """

    key: Callable[[N], Hashable]
    run: Callable[[Sequence[N]], Mapping[N, BaseException]]
    settle: float = 0.5  # seconds after the latest member became ready
    cap: float = 1.5  # seconds after the first member became ready, at most
    size: int | None = None


@dataclass
class _Group(Generic[N]):
    first: float
    last: float
    nodes: list[N] = field(default_factory=list)


class Walker(Generic[N]):
    """Runs internal nodes in dependency order, up to `workers` nodes at once.

    Without batching, `run(node)` runs each node alone. With `batching`, a
    dispatcher thread hands groups of ready nodes to `batching.run`; a batch
    counts as many nodes as it holds against `workers`.

    Scheduling decisions are taken under a lock, but work is submitted only
    after it is released: a future that is already done runs its callback in
    the submitting thread, and that callback needs the lock too.
    """

    def __init__(
        self,
        dependencies: Mapping[N, Iterable[N]],
        run: Callable[[N], None] | None = None,
        *,
        external: Iterable[N] = (),
        workers: int = 8,
        on_skip: Callable[[N], None] | None = None,
        batching: Batching[N] | None = None,
    ) -> None:
        if (run is None) == (batching is None):
            raise ValueError("give either run or batching")
        self._deps = {node: set(deps) for node, deps in dependencies.items()}
        self._dependents: dict[N, set[N]] = {node: set() for node in self._deps}
        for node, deps in self._deps.items():
            for dep in deps:
                self._dependents.setdefault(dep, set()).add(node)
        self._run = run
        self._external = set(external)
        self._on_skip = on_skip
        self._outcomes: dict[N, Outcome] = {}
        self._errors: dict[N, BaseException] = {}
        self._started: set[N] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._all_done = threading.Event()
        self._workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="walk")
        self._batching = batching
        self._keys: dict[N, Hashable] = {}
        self._groups: dict[Hashable, _Group[N]] = {}
        self._running = 0  # nodes in running batches
        self._closed = False
        self._dispatcher: threading.Thread | None = None
        if batching is not None:
            internal = [n for n in self._deps if n not in self._external]
            self._keys = {node: batching.key(node) for node in internal}
            self._dispatcher = threading.Thread(
                target=self._dispatch, name="walk-batches", daemon=True
            )

    def start(self) -> None:
        """Start every internal node that has no dependencies."""
        if self._dispatcher is not None:
            self._dispatcher.start()
        with self._lock:
            ready = self._claim_ready()
        self._submit(ready)

    def complete(self, node: N, ok: bool) -> None:
        """Report the end of an external node."""
        with self._lock:
            if node in self._outcomes:
                return
            ready = self._finish(node, Outcome.DONE if ok else Outcome.FAILED)
        self._submit(ready)

    def wait(self, timeout: float | None = None) -> dict[N, Outcome]:
        """Block until every node has an outcome and return them; `WalkTimeoutError` if late."""
        if not self._all_done.wait(timeout):
            with self._lock:
                self._closed = True
                self._changed.notify_all()
                pending = sorted(str(n) for n in self._deps if n not in self._outcomes)
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise WalkTimeoutError(f"nodes still pending after {timeout}s: {', '.join(pending)}")
        self._pool.shutdown(wait=True)
        if self._dispatcher is not None and self._dispatcher.is_alive():
            self._dispatcher.join()
        with self._lock:
            return dict(self._outcomes)

    @property
    def errors(self) -> Mapping[N, BaseException]:
        with self._lock:
            return dict(self._errors)

    def _claim_ready(self) -> list[N]:
        """Mark the nodes that can start now as started, skip the doomed ones.

        With batching, the ready nodes join their key's group instead of being
        returned; the dispatcher runs the group.
        """
        ready: list[N] = []
        for node, deps in self._deps.items():
            if node in self._started or node in self._outcomes or node in self._external:
                continue
            if any(self._outcomes.get(d) in (Outcome.FAILED, Outcome.SKIPPED) for d in deps):
                self._skip(node)
            elif all(self._outcomes.get(d) is Outcome.DONE for d in deps):
                self._started.add(node)
                ready.append(node)
        self._check_finished()
        if self._batching is None:
            return ready
        now = time.monotonic()
        for node in ready:
            group = self._groups.setdefault(self._keys[node], _Group(first=now, last=now))
            group.last = now
            group.nodes.append(node)
        self._changed.notify_all()
        return []

    def _submit(self, nodes: list[N]) -> None:
        run = self._run
        for node in nodes:
            assert run is not None  # nodes come back only when not batching
            future = self._pool.submit(run, node)
            future.add_done_callback(functools.partial(self._ran, node))

    def _ran(self, node: N, future: Future[None]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        with self._lock:
            if error is not None:
                self._errors[node] = error
            ready = self._finish(node, Outcome.FAILED if error is not None else Outcome.DONE)
        self._submit(ready)

    def _dispatch(self) -> None:
        """Hand each group to `batching.run` once it has settled and workers are free."""
        assert self._batching is not None
        batching = self._batching
        while True:
            with self._lock:
                while True:
                    if self._closed or self._all_done.is_set():
                        return
                    batches, wake = self._take_due(time.monotonic())
                    if batches:
                        self._running += sum(len(batch) for batch in batches)
                        break
                    self._changed.wait(wake)
            for batch in batches:
                future = self._pool.submit(batching.run, batch)
                future.add_done_callback(functools.partial(self._ran_batch, batch))

    def _take_due(self, now: float) -> tuple[list[list[N]], float | None]:
        """The batches to run now, and how long until the next group is due (None: no group)."""
        assert self._batching is not None
        batching = self._batching
        batches: list[list[N]] = []
        wake: float | None = None
        for key in list(self._groups):
            group = self._groups[key]
            due = min(group.last + batching.settle, group.first + batching.cap)
            if now < due and self._may_grow(key, group):
                wake = due - now if wake is None else min(wake, due - now)
                continue
            free = self._workers - self._running - sum(len(b) for b in batches)
            take = min(free, batching.size or free)
            if take <= 0:
                continue  # woken again when a batch ends
            batches.append(group.nodes[:take])
            del group.nodes[:take]
            if not group.nodes:
                del self._groups[key]
        return batches, wake

    def _may_grow(self, key: Hashable, group: _Group[N]) -> bool:
        """Whether a node with `key` that is not in the group can still become ready without it.

        Nodes that depend on a member, directly or through other nodes, wait for the
        group to run: holding the group back for them would only delay both.
        """
        waiting = [
            node
            for node, other in self._keys.items()
            if other == key and node not in self._started and node not in self._outcomes
        ]
        if not waiting:
            return False
        behind = self._descendants(group.nodes)
        return any(node not in behind for node in waiting)

    def _descendants(self, nodes: Iterable[N]) -> set[N]:
        """Every node that depends on one of `nodes`, directly or through others."""
        seen: set[N] = set()
        stack = list(nodes)
        while stack:
            for dependent in self._dependents.get(stack.pop(), ()):
                if dependent not in seen:
                    seen.add(dependent)
                    stack.append(dependent)
        return seen

    def _ran_batch(self, batch: list[N], future: Future[Mapping[N, BaseException]]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        failures: Mapping[N, BaseException | None] = (
            dict.fromkeys(batch, error) if error is not None else future.result()
        )
        with self._lock:
            self._running -= len(batch)
            for node in batch:
                failure = failures.get(node)
                if failure is not None:
                    self._errors[node] = failure
                self._outcomes[node] = Outcome.DONE if failure is None else Outcome.FAILED
            self._claim_ready()
            self._changed.notify_all()

    def _finish(self, node: N, outcome: Outcome) -> list[N]:
        self._outcomes[node] = outcome
        return self._claim_ready()

    def _skip(self, node: N) -> None:
        self._outcomes[node] = Outcome.SKIPPED
        if self._on_skip is not None:
            self._on_skip(node)
        for dependent in self._dependents.get(node, ()):
            if dependent in self._outcomes or dependent in self._started:
                continue
            if dependent in self._external:
                continue
            self._skip(dependent)

    def _check_finished(self) -> None:
        if len(self._outcomes) >= len(self._deps):
            self._all_done.set()
            if self._batching is not None:
                self._changed.notify_all()
