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


class Walker(Generic[N]):
    """Runs `run(node)` for internal nodes in dependency order, up to `workers` at once."""

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
            self._schedule_ready()
            self._check_finished()

    def complete(self, node: N, ok: bool) -> None:
        """Report the end of an external node."""
        with self._lock:
            if node in self._outcomes:
                return
            self._finish(node, Outcome.DONE if ok else Outcome.FAILED)

    def wait(self, timeout: float | None = None) -> dict[N, Outcome]:
        """Block until every node has an outcome; return them."""
        self._all_done.wait(timeout)
        self._pool.shutdown(wait=True)
        return dict(self._outcomes)

    @property
    def errors(self) -> Mapping[N, BaseException]:
        return dict(self._errors)

    def _schedule_ready(self) -> None:
        for node, deps in self._deps.items():
            if node in self._started or node in self._outcomes or node in self._external:
                continue
            if any(self._outcomes.get(d) in (Outcome.FAILED, Outcome.SKIPPED) for d in deps):
                self._skip(node)
            elif all(self._outcomes.get(d) is Outcome.DONE for d in deps):
                self._started.add(node)
                future = self._pool.submit(self._run, node)
                future.add_done_callback(functools.partial(self._ran, node))

    def _ran(self, node: N, future: Future[None]) -> None:
        error = future.exception()
        with self._lock:
            if error is not None:
                self._errors[node] = error
            self._finish(node, Outcome.FAILED if error is not None else Outcome.DONE)

    def _finish(self, node: N, outcome: Outcome) -> None:
        self._outcomes[node] = outcome
        self._schedule_ready()
        self._check_finished()

    def _skip(self, node: N) -> None:
        self._outcomes[node] = Outcome.SKIPPED
        if self._on_skip is not None:
            self._on_skip(node)
        for dependent in self._dependents.get(node, ()):
            if dependent not in self._outcomes and dependent not in self._started:
                if dependent in self._external:
                    continue
                self._skip(dependent)

    def _check_finished(self) -> None:
        if len(self._outcomes) >= len(self._deps):
            self._all_done.set()
