"""Walk a DAG in parallel: each node runs once all its dependencies succeeded.

Nothing here knows about infrastructure. Some nodes are *external*: the walker
does not run them, it waits for `complete(node, ok)` from outside (for example
cloud resources finished by another engine). A node whose dependency failed or
was skipped is skipped, and so are its dependents.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Generic, TypeVar

N = TypeVar("N", bound=Hashable)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class WalkTimeoutError(TimeoutError):
    """`Walker.wait` ran out of time before every node had an outcome."""


class Walker(Generic[N]):
    """Runs `run(node)` for internal nodes in dependency order, up to `workers` at once.

    Scheduling decisions are taken under a lock, but work is submitted only
    after it is released: a future that is already done runs its callback in
    the submitting thread, and that callback needs the lock too.
    """

    def __init__(
        self,
        dependencies: Mapping[N, Iterable[N]],
        run: Callable[[N], None],
        *,
        external: Iterable[N] = (),
        workers: int = 8,
        on_skip: Callable[[N], None] | None = None,
    ) -> None:
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
        self._all_done = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="walk")

    def start(self) -> None:
        """Start every internal node that has no dependencies."""
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
            self._pool.shutdown(wait=False, cancel_futures=True)
            with self._lock:
                pending = sorted(str(n) for n in self._deps if n not in self._outcomes)
            raise WalkTimeoutError(f"nodes still pending after {timeout}s: {', '.join(pending)}")
        self._pool.shutdown(wait=True)
        with self._lock:
            return dict(self._outcomes)

    @property
    def errors(self) -> Mapping[N, BaseException]:
        with self._lock:
            return dict(self._errors)

    def _claim_ready(self) -> list[N]:
        """Mark the nodes that can start now as started, skip the doomed ones."""
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
        return ready

    def _submit(self, nodes: list[N]) -> None:
        for node in nodes:
            future = self._pool.submit(self._run, node)
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
