"""Which fault each call gets, and what the proxy did: the fault proxy apart from its HTTP."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from provisioner.local.faults.calls import Call, Service


class Fault(StrEnum):
    """What the proxy does instead of answering."""

    THROTTLE = "throttle"  # the service's throttling error
    ERROR = "error"  # a 500 in the service's format
    DROP = "drop"  # the connection is closed without an answer
    PERMANENT = "permanent"  # the error code `Faults.permanent` names for the action


@dataclass
class Faults:
    """What to inject. Rates are probabilities per call of a known service, drawn in this order.

    Actions are named by the API's operation names (`CreateVpc`, `CreateBucket`).
    """

    throttle: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    latency: float = 0.0  # seconds added to every call
    latency_actions: frozenset[str] = frozenset()  # if set, only these actions get the latency
    # Staggering: the n-th delayed request (from 0) waits `latency + n * latency_step`.
    latency_step: float = 0.0
    permanent: dict[str, str] = field(default_factory=dict)  # action -> error code
    # An EC2 call naming an id made less than `young_for` s ago: answered with its NotFound.
    not_found: float = 0.0
    young_for: float = 3.0
    # A mutating call, forwarded: its answer is lost (half dropped, half 500).
    lose_answer: float = 0.0
    # The first forwarded call of each of these actions loses its answer (dropped).
    lose_first: frozenset[str] = frozenset()
    # DescribeInstances answers say `pending` where moto says `running`.
    pending_instances: bool = False
    seed: int = 7

    def holds(self, action: str) -> bool:
        """True if requests of `action` are held back."""
        if not (self.latency or self.latency_step):
            return False
        return not self.latency_actions or action in self.latency_actions

    def held_for(self, order: int) -> float:
        """Seconds to hold the `order`-th held request (counting from 0)."""
        return self.latency + order * self.latency_step


@dataclass(frozen=True)
class Mutation:
    """One forwarded mutating call, as the cloud saw it and answered it."""

    call: Call
    made: tuple[str, ...]  # the ids (key names, bucket names, ARNs) its answer says it made
    arrived: float  # wall-clock (time.time()) seconds, when the proxy got it
    answered: float  # when the cloud's answer was back at the proxy
    error: str | None  # the cloud's error code, if it refused
    lost: Fault | None  # DROP or ERROR if the proxy lost the answer, else None

    @property
    def service(self) -> Service:
        return self.call.service

    @property
    def action(self) -> str:
        return self.call.action

    @property
    def params(self) -> Mapping[str, str]:
        """The call's parameters (see `Call`)."""
        return self.call.params

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids and names it names (outside filters and tags)."""
        return self.call.ids

    @property
    def tags(self) -> dict[str, str]:
        """The tags it sets (a create's TagSpecifications, ELBv2's and RDS's Tags, ...)."""
        return self.call.tags


@dataclass(frozen=True)
class DelayedRequest:
    """One request that was held back: its action, when it came and when it was answered."""

    action: str
    arrived: float  # wall-clock (time.time()) seconds
    answered: float


@dataclass
class FaultCounts:
    """What the proxy did, for the tests' assertions."""

    forwarded: int = 0
    throttled: int = 0
    server_errors: int = 0
    dropped: int = 0
    refused: int = 0
    actions: list[str] = field(default_factory=list)
    delayed: list[DelayedRequest] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)  # action -> answers lost after forwarding
    not_found: dict[str, int] = field(default_factory=dict)  # action -> injected NotFounds
    pending_answers: int = 0  # DescribeInstances answers rewritten to `pending`
    mutations: list[Mutation] = field(default_factory=list)


@dataclass(frozen=True)
class _Draws:
    """One seeded stream per kind of fault, shared by every service, so that how many
    answers a run of N mutating calls loses does not depend on how its other requests
    interleave, nor on which services they are for."""

    transient: random.Random
    unknown: random.Random
    lose: random.Random

    @classmethod
    def seeded(cls, seed: int) -> _Draws:
        kinds = ("transient", "unknown", "lose")
        return cls(*(random.Random(f"{seed}/{kind}") for kind in kinds))  # noqa: S311 - not secrets


_TRANSIENT = (Fault.THROTTLE, Fault.ERROR, Fault.DROP)


class FaultDecisions:
    """Which fault each call gets, and what was done. Calls of unknown services (None) get none.

    Thread-safe. `clock` is monotonic seconds, for the age of the ids made.
    """

    def __init__(self, faults: Faults, clock: Callable[[], float] = time.monotonic) -> None:
        self.faults = faults
        self.counts = FaultCounts()
        self._clock = clock
        self._draws = _Draws.seeded(faults.seed)
        self._lock = threading.Lock()
        self._delayed_so_far = 0
        self._lost_first: set[str] = set()
        # Every id (and key name) a mutating answer made, and when.
        self._born: dict[str, float] = {}

    def use(self, faults: Faults) -> FaultCounts:
        """Inject `faults` from now on, drawn afresh from their seed, and count afresh.

        The ids made so far stay known. Returns the new counts.
        """
        with self._lock:
            self.faults = faults
            self._draws = _Draws.seeded(faults.seed)
            self._delayed_so_far = 0
            self._lost_first = set()
            self.counts = FaultCounts()
            return self.counts

    def decide(self, call: Call | None) -> Fault | None:
        """The fault a call gets before it is forwarded, if any."""
        if call is None:
            return None
        with self._lock:
            self.counts.actions.append(call.action)
            if call.action in self.faults.permanent:
                self.counts.refused += 1
                return Fault.PERMANENT
            draw = self._draws.transient.random()
            rates = (self.faults.throttle, self.faults.server_error, self.faults.drop)
            edge = 0.0
            for fault, rate in zip(_TRANSIENT, rates, strict=True):
                edge += rate
                if draw < edge:
                    self._count_transient(fault)
                    return fault
            return None

    def _count_transient(self, fault: Fault) -> None:
        if fault is Fault.THROTTLE:
            self.counts.throttled += 1
        elif fault is Fault.ERROR:
            self.counts.server_errors += 1
        else:
            self.counts.dropped += 1

    def unknown_yet(self, call: Call) -> str | None:
        """The id to answer NotFound for (one made less than `young_for` s ago), by the draw.

        EC2 only: its ids say which NotFound to give.
        """
        if not self.faults.not_found or call.service is not Service.EC2:
            return None
        now = self._clock()
        with self._lock:
            young = [
                name
                for name in call.ids
                if now - self._born.get(name, -1e9) < self.faults.young_for
            ]
            if not young or self._draws.unknown.random() >= self.faults.not_found:
                return None
            self.counts.not_found[call.action] = self.counts.not_found.get(call.action, 0) + 1
            return young[0]

    def lose(self, call: Call) -> Fault | None:
        """How the answer of a forwarded call is lost: None (it is not), DROP or ERROR."""
        if not call.mutating:
            return None
        action = call.action
        with self._lock:
            way: Fault | None = None
            if action in self.faults.lose_first and action not in self._lost_first:
                self._lost_first.add(action)
                way = Fault.DROP
            elif self.faults.lose_answer:
                draw = self._draws.lose.random()
                if draw < self.faults.lose_answer:
                    way = Fault.DROP if draw < self.faults.lose_answer / 2 else Fault.ERROR
            if way is not None:
                self.counts.lost[action] = self.counts.lost.get(action, 0) + 1
            return way

    def note_forwarded(self, mutation: Mutation | None) -> None:
        """Count a forwarded call; remember what a mutating one made, and record it."""
        now = self._clock()
        with self._lock:
            self.counts.forwarded += 1
            if mutation is None:
                return
            self.counts.mutations.append(mutation)
            for name in mutation.made:
                self._born.setdefault(name, now)

    def note_pending(self, rewritten: int) -> None:
        with self._lock:
            self.counts.pending_answers += rewritten

    def delay(self, call: Call | None) -> float:
        """How long to hold a call back (0 for calls that get no latency)."""
        if call is None or not self.faults.holds(call.action):
            return 0.0
        with self._lock:
            self._delayed_so_far += 1
            order = self._delayed_so_far - 1
        return self.faults.held_for(order)

    def note_delayed(self, action: str, arrived: float) -> None:
        with self._lock:
            self.counts.delayed.append(DelayedRequest(action, arrived, time.time()))
