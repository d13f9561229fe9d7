"""A fault-injecting HTTP proxy in front of the local cloud's API, for tests and benchmarks.

It listens on loopback and forwards every request to the moto server. Per EC2
request, by seeded draws (one stream per kind of fault), it injects:

- before forwarding (the request never reaches the cloud): throttling (503
  RequestLimitExceeded), server errors (500), dropped connections, a permanent
  error for chosen actions, fixed or staggered latency;
- eventual consistency, as real AWS has it: a request that names an id that a
  create answered less than `Faults.young_for` seconds ago (as a parameter, not
  in a filter, for which AWS answers an empty list) gets that id's NotFound
  error, without being forwarded;
- after forwarding, on mutating calls only (`is_mutating`): the request reaches
  the cloud and takes effect, and the client gets a dropped connection or a 500
  instead of the answer (also, always, for the first call of chosen actions). A
  blind retry then meets the change it already made;
- `DescribeInstances` answers that say `pending` for running instances: an
  instance that never reaches running.

Every forwarded mutating call is recorded (`Mutation`: action, parameters, the
ids it names and makes, arrival and answer times, the cloud's error code), so
tests can prove the order of deletes. The decisions live in `FaultDecisions`,
apart from the HTTP plumbing of `FaultProxy`.
"""

from __future__ import annotations

import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from provisioner.netsafety import require_loopback_url

_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)
# Read-only EC2 actions; every other action changes something.
_READ_PREFIXES = ("Describe", "Get", "List")
# What each making action's answer returns that it made: the kinds (id prefixes) of
# its ids, and `keyName` for a key pair's name, by which key pairs are used. Other ids
# in an answer (a new subnet's VPC, an instance's groups) were made before.
_MADE_BY: dict[str, frozenset[str]] = {
    "CreateVpc": frozenset({"vpc"}),
    "CreateSubnet": frozenset({"subnet"}),
    "CreateSecurityGroup": frozenset({"sg"}),
    "CreateInternetGateway": frozenset({"igw"}),
    "CreateRouteTable": frozenset({"rtb"}),
    "AssociateRouteTable": frozenset({"rtbassoc"}),
    "RunInstances": frozenset({"i"}),
    "CreateKeyPair": frozenset({"key", "keyName"}),
}
# The NotFound error of each kind of id, by the id's prefix.
_NOT_FOUND_BY_PREFIX = {
    "vpc": "InvalidVpcID.NotFound",
    "subnet": "InvalidSubnetID.NotFound",
    "sg": "InvalidGroup.NotFound",
    "igw": "InvalidInternetGatewayID.NotFound",
    "rtb": "InvalidRouteTableID.NotFound",
    "rtbassoc": "InvalidAssociationID.NotFound",
    "i": "InvalidInstanceID.NotFound",
    "key": "InvalidKeyPair.NotFound",
}
KEY_PAIR_NOT_FOUND = "InvalidKeyPair.NotFound"
_ID = re.compile(r"(rtbassoc|subnet|vpc|sg|igw|rtb|key|i)-[0-9a-f]{8,}")
_ANSWER_VALUE = re.compile(rb"<(\w+)>([^<>]{1,256})</\1>")
_ERROR_CODE = re.compile(rb"<Code>([^<>]+)</Code>")
# Parameters that carry a key pair's name (key pairs are named, and by name they are used).
_KEY_NAME = re.compile(r"(?:.*\.)?KeyNames?(?:\.\d+)?")
_RUNNING = b"<instanceState><code>16</code><name>running</name></instanceState>"
_PENDING = b"<instanceState><code>0</code><name>pending</name></instanceState>"


@dataclass
class Faults:
    """What to inject. Rates are probabilities per EC2 request, drawn in this order."""

    throttle: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    latency: float = 0.0  # seconds added to every EC2 request
    latency_actions: frozenset[str] = frozenset()  # if set, only these actions get the latency
    # Staggering: the n-th delayed request (from 0) waits `latency + n * latency_step`.
    latency_step: float = 0.0
    permanent: dict[str, str] = field(default_factory=dict)  # action -> error code
    # A request naming an id made less than `young_for` s ago: answered with its NotFound.
    not_found: float = 0.0
    young_for: float = 3.0
    # A mutating request, forwarded: its answer is lost (half dropped, half 500).
    lose_answer: float = 0.0
    # The first forwarded request of each of these actions loses its answer (dropped).
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
    """One forwarded mutating request, as the cloud saw it and answered it."""

    action: str
    params: Mapping[str, str]  # the request's parameters, first value each
    ids: tuple[str, ...]  # ids and key names it names (outside filters and tags)
    made: tuple[str, ...]  # the ids (and key names) its answer says it made
    arrived: float  # wall-clock (time.time()) seconds, when the proxy got it
    answered: float  # when the cloud's answer was back at the proxy
    error: str | None  # the cloud's error code, if it refused
    lost: str | None  # "drop" or "error" if the proxy lost the answer, else None

    @property
    def tags(self) -> dict[str, str]:
        """The tags its TagSpecifications carry (creates)."""
        found: dict[str, str] = {}
        for key, value in self.params.items():
            match = re.fullmatch(r"TagSpecification\.\d+\.Tag\.(\d+)\.Key", key)
            if match:
                prefix = key.removesuffix("Key")
                found[value] = self.params.get(prefix + "Value", "")
        return found


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
class DelayedRequest:
    """One request that was held back: its action, when it came and when it was answered."""

    action: str
    arrived: float  # wall-clock (time.time()) seconds
    answered: float


def is_mutating(action: str) -> bool:
    """True for an EC2 action that changes something: all but Describe*, Get* and List*."""
    return not action.startswith(_READ_PREFIXES)


def named_ids(params: Mapping[str, str]) -> tuple[str, ...]:
    """The resource ids and key names a request names, in parameter order.

    Values in filters (`Filter.N.Value.M`) and tags are left out: AWS answers a
    filter on an unknown id with an empty list, not an error.
    """
    found: list[str] = []
    for key, value in params.items():
        if key.startswith("Filter.") or ".Tag." in key or key.startswith("Tag."):
            continue
        if _ID.fullmatch(value) or _KEY_NAME.fullmatch(key):
            found.append(value)
    return tuple(dict.fromkeys(found))


def not_found_code(name: str) -> str:
    """The NotFound error code AWS gives for an unknown id (a key pair for a name)."""
    match = _ID.fullmatch(name)
    return _NOT_FOUND_BY_PREFIX[match.group(1)] if match else KEY_PAIR_NOT_FOUND


def made_ids(action: str, answer: bytes) -> tuple[str, ...]:
    """The ids (and key names) that `action`'s successful answer says it made."""
    kinds = _MADE_BY.get(action, frozenset())
    found: list[str] = []
    for element, raw in _ANSWER_VALUE.findall(answer):
        value = raw.decode(errors="replace")
        match = _ID.fullmatch(value)
        if (match and match.group(1) in kinds) or ("keyName" in kinds and element == b"keyName"):
            found.append(value)
    return tuple(dict.fromkeys(found))


def error_code_of(answer: bytes) -> str | None:
    """The error code in an EC2 error answer."""
    match = _ERROR_CODE.search(answer)
    return match.group(1).decode(errors="replace") if match else None


def pending_instances(answer: bytes) -> tuple[bytes, int]:
    """A DescribeInstances answer with every running instance shown `pending`, and how many."""
    return answer.replace(_RUNNING, _PENDING), answer.count(_RUNNING)


def request_params(body: bytes) -> dict[str, str]:
    """An EC2 query request's parameters, first value each."""
    parsed = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items() if values}


@dataclass(frozen=True)
class _Draws:
    """One seeded stream per kind of fault, so that how many answers a run of N mutating
    calls loses does not depend on how its other requests interleave."""

    transient: random.Random
    unknown: random.Random
    lose: random.Random

    @classmethod
    def seeded(cls, seed: int) -> _Draws:
        kinds = ("transient", "unknown", "lose")
        return cls(*(random.Random(f"{seed}/{kind}") for kind in kinds))  # noqa: S311 - not secrets


class FaultDecisions:
    """Which fault each request gets, and what was done: the proxy apart from its HTTP.

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

    def decide(self, action: str | None) -> str | None:
        """The fault for one request: None, or throttle | error | drop | permanent:CODE."""
        if action is None:
            return None
        with self._lock:
            self.counts.actions.append(action)
            if action in self.faults.permanent:
                self.counts.refused += 1
                return f"permanent:{self.faults.permanent[action]}"
            draw = self._draws.transient.random()
            limits = (
                ("throttle", self.faults.throttle),
                ("error", self.faults.server_error),
                ("drop", self.faults.drop),
            )
            edge = 0.0
            for name, rate in limits:
                edge += rate
                if draw < edge:
                    attribute = {"throttle": "throttled", "error": "server_errors"}.get(
                        name, "dropped"
                    )
                    setattr(self.counts, attribute, getattr(self.counts, attribute) + 1)
                    return name
            return None

    def unknown_yet(self, action: str, ids: tuple[str, ...]) -> str | None:
        """The id to answer NotFound for (one made less than `young_for` s ago), by the draw."""
        if not self.faults.not_found:
            return None
        now = self._clock()
        with self._lock:
            young = [
                name for name in ids if now - self._born.get(name, -1e9) < self.faults.young_for
            ]
            if not young or self._draws.unknown.random() >= self.faults.not_found:
                return None
            self.counts.not_found[action] = self.counts.not_found.get(action, 0) + 1
            return young[0]

    def lose(self, action: str) -> str | None:
        """How the answer of a forwarded request is lost: None (it is not), drop or error."""
        if not is_mutating(action):
            return None
        with self._lock:
            if action in self.faults.lose_first and action not in self._lost_first:
                self._lost_first.add(action)
                way: str | None = "drop"
            elif self.faults.lose_answer:
                draw = self._draws.lose.random()
                lost = draw < self.faults.lose_answer
                way = ("drop" if draw < self.faults.lose_answer / 2 else "error") if lost else None
            else:
                way = None
            if way is not None:
                self.counts.lost[action] = self.counts.lost.get(action, 0) + 1
            return way

    def note_forwarded(self, mutation: Mutation | None) -> None:
        """Count a forwarded request; remember what a mutating one made, and record it."""
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

    def delay(self, action: str | None) -> float:
        """How long to hold `action` back (0 for requests that get no latency)."""
        if action is None or not self.faults.holds(action):
            return 0.0
        with self._lock:
            self._delayed_so_far += 1
            order = self._delayed_so_far - 1
        return self.faults.held_for(order)

    def note_delayed(self, action: str, arrived: float) -> None:
        with self._lock:
            self.counts.delayed.append(DelayedRequest(action, arrived, time.time()))


class FaultProxy:
    """Runs in a thread of the caller; `endpoint` is what clients should use instead."""

    def __init__(self, target: str, faults: Faults | None = None) -> None:
        self.target = require_loopback_url(target).rstrip("/")
        self.decisions = FaultDecisions(faults or Faults())
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def faults(self) -> Faults:
        """The faults being injected (change their fields, or `use` new ones)."""
        return self.decisions.faults

    @property
    def counts(self) -> FaultCounts:
        """What the proxy did since it started, or since the last `use`."""
        return self.decisions.counts

    def use(self, faults: Faults) -> FaultCounts:
        """Inject `faults` from now on, drawn afresh from their seed; the new counts."""
        return self.decisions.use(faults)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    payload: bytes


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    decisions = proxy.decisions

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._relay()

        def do_POST(self) -> None:
            self._relay()

        def do_PUT(self) -> None:
            self._relay()

        def do_DELETE(self) -> None:
            self._relay()

        def do_HEAD(self) -> None:
            self._relay()

        def _relay(self) -> None:
            arrived = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            params = request_params(body) if b"Action=" in body else {}
            action = params.get("Action")
            fault = decisions.decide(action)
            if fault == "drop":
                self._drop()
                return
            if fault == "throttle":
                self._error(503, "RequestLimitExceeded", "Request limit exceeded.")
                return
            if fault == "error":
                self._error(500, "InternalError", "An internal error has occurred.")
                return
            if fault is not None and fault.startswith("permanent:"):
                self._error(400, fault.split(":", 1)[1], f"{action} refused by the fault proxy")
                return
            ids = named_ids(params) if action is not None else ()
            unknown = decisions.unknown_yet(action, ids) if action is not None else None
            if unknown is not None:
                message = f"The id '{unknown}' does not exist (fault proxy: too new)"
                self._error(400, not_found_code(unknown), message)
                return
            held = decisions.delay(action)
            time.sleep(held)
            answer = self._forward(body)
            if held and action is not None:
                decisions.note_delayed(action, arrived)
            mutating = action is not None and is_mutating(action)
            lost = decisions.lose(action) if mutating and action is not None else None
            mutation = None
            if mutating and action is not None:
                mutation = Mutation(
                    action=action,
                    params={k: v for k, v in params.items() if k not in ("Action", "Version")},
                    ids=ids,
                    made=made_ids(action, answer.payload) if answer.status < 400 else (),
                    arrived=arrived,
                    answered=time.time(),
                    error=error_code_of(answer.payload) if answer.status >= 400 else None,
                    lost=lost,
                )
            decisions.note_forwarded(mutation)
            if action == "DescribeInstances" and decisions.faults.pending_instances:
                payload, rewritten = pending_instances(answer.payload)
                decisions.note_pending(rewritten)
                answer = _Answer(answer.status, answer.headers, payload)
            if lost == "drop":
                self._drop()
            elif lost == "error":
                self._error(500, "InternalError", "An internal error has occurred.")
            else:
                self._send(answer)

        def _forward(self, body: bytes) -> _Answer:
            request = urllib.request.Request(  # noqa: S310 - loopback target
                proxy.target + self.path,
                data=body if self.command not in ("GET", "HEAD") else None,
                method=self.command,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
            )
            try:
                # The target was checked to be loopback when the proxy was made.
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    status, headers, payload = response.status, response.headers, response.read()
            except urllib.error.HTTPError as error:
                status, headers, payload = error.code, error.headers, error.read()
            return _Answer(status, list(headers.items()), payload)

        def _send(self, answer: _Answer) -> None:
            self.send_response(answer.status)
            for key, value in answer.headers:
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.payload)

        def _drop(self) -> None:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

        def _error(self, status: int, code: str, message: str) -> None:
            payload = _ERROR_XML.format(code=code, message=message).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
