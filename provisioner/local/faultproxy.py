"""A fault-injecting HTTP proxy in front of the local cloud's API, for tests and benchmarks.

It listens on loopback and forwards every request to the moto server, after
injecting, per EC2 request and by a seeded draw: throttling (503
RequestLimitExceeded), server errors (500), dropped connections, fixed
latency, or a permanent error for chosen actions. Faults happen before the
request is forwarded, so a failed request never reached the cloud and retrying
it cannot create anything twice.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from provisioner.netsafety import require_loopback_url

_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
)


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
    seed: int = 7

    def holds(self, action: str) -> bool:
        """True if requests of `action` are held back."""
        if not (self.latency or self.latency_step):
            return False
        return not self.latency_actions or action in self.latency_actions

    def held_for(self, order: int) -> float:
        """Seconds to hold the `order`-th held request (counting from 0)."""
        return self.latency + order * self.latency_step


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


@dataclass(frozen=True)
class DelayedRequest:
    """One request that was held back: its action, when it came and when it was answered."""

    action: str
    arrived: float  # wall-clock (time.time()) seconds
    answered: float


class FaultProxy:
    """Runs in a thread of the caller; `endpoint` is what clients should use instead."""

    def __init__(self, target: str, faults: Faults | None = None) -> None:
        self.target = require_loopback_url(target).rstrip("/")
        self.faults = faults or Faults()
        self.counts = FaultCounts()
        self._random = random.Random(self.faults.seed)  # noqa: S311 - fault draws, not secrets
        self._lock = threading.Lock()
        self._delayed_so_far = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

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

    def decide(self, action: str | None) -> str | None:
        """The fault for one request: None, or throttle | error | drop | permanent:CODE."""
        if action is None:
            return None
        with self._lock:
            self.counts.actions.append(action)
            if action in self.faults.permanent:
                self.counts.refused += 1
                return f"permanent:{self.faults.permanent[action]}"
            draw = self._random.random()
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


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
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
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            action = _ec2_action(body)
            fault = proxy.decide(action)
            if fault == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
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
            arrived = time.time()
            held = proxy.delay(action)
            time.sleep(held)
            self._forward(body)
            if held and action is not None:
                proxy.note_delayed(action, arrived)

        def _forward(self, body: bytes) -> None:
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
            with proxy._lock:
                proxy.counts.forwarded += 1
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

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


def _ec2_action(body: bytes) -> str | None:
    if b"Action=" not in body:
        return None
    values = parse_qs(body.decode(errors="replace")).get("Action")
    return values[0] if values else None
