"""A fault-injecting HTTP proxy in front of the local cloud's API, for tests and benchmarks.

It listens on loopback and forwards every request to the moto server. It knows
the calls of EC2, ELBv2 and RDS (Query protocol) and of S3 and Route53 (REST-XML)
by their service and action (`faults/recognise.py`); others pass through. Per
call, by seeded draws (one stream per kind of fault, shared by all services), it
injects:

- before forwarding (the request never reaches the cloud): throttling, server
  errors (500), dropped connections, a permanent error for chosen actions, fixed
  or staggered latency;
- eventual consistency, as EC2 has it: a request that names an id that a create
  answered less than `Faults.young_for` seconds ago (as a parameter, not in a
  filter, for which AWS answers an empty list) gets that id's NotFound error,
  without being forwarded;
- after forwarding, on mutating calls only: the request reaches the cloud and
  takes effect, and the client gets a dropped connection or a 500 instead of the
  answer (also, always, for the first call of chosen actions). A blind retry then
  meets the change it already made;
- `DescribeInstances` answers that say `pending` for running instances: an
  instance that never reaches running.

Errors are in each service's own format (`faults/answers.py`), so botocore parses
and retries them as the real ones. Every forwarded mutating call is recorded
(`Mutation`: the call, the ids it names and makes, arrival and answer times, the
cloud's error code), so tests can prove the order of deletes. The decisions live in
`faults/decisions.py`, apart from the HTTP plumbing here.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from provisioner.local.faults import answers, ec2
from provisioner.local.faults.calls import Call, Request
from provisioner.local.faults.decisions import (
    DelayedRequest,
    Fault,
    FaultCounts,
    FaultDecisions,
    Faults,
    Mutation,
)
from provisioner.local.faults.recognise import recognise
from provisioner.netsafety import require_loopback_url

__all__ = ["DelayedRequest", "FaultCounts", "FaultDecisions", "FaultProxy", "Faults", "Mutation"]

# Headers of one hop, not of the request: the forwarded request gets its own.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "expect", "content-length"}
)


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
    target = urlsplit(proxy.target)

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
            request = Request(
                self.command,
                self.path,
                {key.lower(): value for key, value in self.headers.items()},
                self._body(),
            )
            call = recognise(request)
            if not self._injected_before(call):
                self._forwarded(request, call, arrived)

        def _injected_before(self, call: Call | None) -> bool:
            """Answer in the cloud's stead, if the call gets a fault before forwarding."""
            fault = decisions.decide(call)
            if call is None:
                return False
            if fault is Fault.DROP:
                self._drop()
            elif fault is Fault.THROTTLE:
                self._error(call, answers.throttled(call.service))
            elif fault is Fault.ERROR:
                self._error(call, answers.server_error(call.service))
            elif fault is Fault.PERMANENT:
                self._error(call, answers.refused(call, decisions.faults.permanent[call.action]))
            elif (unknown := decisions.unknown_yet(call)) is not None:
                self._error(call, answers.unknown_yet(unknown))
            else:
                return False
            return True

        def _forwarded(self, request: Request, call: Call | None, arrived: float) -> None:
            held = decisions.delay(call)
            time.sleep(held)
            answer = self._forward(request)
            if call is None:
                decisions.note_forwarded(None)
                self._send(answer)
                return
            if held:
                decisions.note_delayed(call.action, arrived)
            lost = decisions.lose(call)
            mutation = None
            if call.mutating:
                failed = answer.status >= 400
                mutation = Mutation(
                    call=call,
                    made=() if failed else answers.made_ids(call, answer.payload),
                    arrived=arrived,
                    answered=time.time(),
                    error=answers.error_code_of(answer.payload) if failed else None,
                    lost=lost,
                )
            decisions.note_forwarded(mutation)
            if call.action == "DescribeInstances" and decisions.faults.pending_instances:
                payload, rewritten = ec2.pending_instances(answer.payload)
                decisions.note_pending(rewritten)
                answer = _Answer(answer.status, answer.headers, payload)
            if lost is Fault.DROP:
                self._drop()
            elif lost is Fault.ERROR:
                self._error(call, answers.server_error(call.service))
            else:
                self._send(answer)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():
                    pass  # trailers
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _forward(self, request: Request) -> _Answer:
            # http.client, not urllib: urllib gives a body without a Content-Type a form's,
            # and then moto reads an S3 or Route53 XML body as an empty form.
            # The target was checked to be loopback when the proxy was made.
            connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            sends_body = request.body or request.method in ("POST", "PUT", "PATCH")
            try:
                connection.request(
                    request.method,
                    request.target,
                    body=request.body if sends_body else None,
                    headers=headers,
                )
                response = connection.getresponse()
                return _Answer(response.status, response.getheaders(), response.read())
            finally:
                connection.close()

        def _send(self, answer: _Answer) -> None:
            self.send_response(answer.status)
            for key, value in answer.headers:
                if key.lower() not in _HOP_BY_HOP or (
                    key.lower() == "content-length" and self.command == "HEAD"
                ):
                    self.send_header(key, value)  # a HEAD answer's length is the object's
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(answer.payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.payload)

        def _drop(self) -> None:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

        def _error(self, call: Call, error: answers.ServiceError) -> None:
            payload = error.payload(call.service)
            self.send_response(error.status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler
