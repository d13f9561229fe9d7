"""Changes to the cloud made exactly once when answers are lost, and the waits AWS asks for.

Real EC2 does three things that moto never does:

* **It loses answers.** A request reaches the cloud and takes effect, and the client
  sees a reset connection or a 5xx. Re-sending a create then makes a second
  resource that nothing tracks. So every create carries an idempotency token,
  derived from the environment, the resource's address and the run
  (`creation_token`): as `ClientToken` where the API takes one, and always as the
  tag `provision:create-token`. Creates are sent one attempt at a time
  (`create_exactly_once`); before each re-send the resource is looked up by that
  tag and adopted if an earlier attempt made it.
* **A repeated call meets its own first attempt.** A rule authorized twice is a
  duplicate, a delete of what is gone is a NotFound. Such an error counts as
  success when the cloud is in the state we wanted (`already_done`,
  `delete_confirmed`).
* **It is eventually consistent.** For a few seconds after a create, a call that
  names the new id may be answered `…NotFound`. Calls that name an id wait and
  retry (`settle`), with exponential backoff, a cap on each wait and a bound on the
  total, as AWS's "Eventual consistency in the Amazon EC2 API" asks. A NotFound
  on a delete is believed only once a filtered describe (which lists, and never
  fails on, an unknown id) no longer lists the resource.

This module holds the decisions only; the providers say how to send, find and
check (base.py).
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, WaiterError
from botocore.exceptions import ConnectionError as BotoConnectionError

from provisioner.procs import RUN_ID_ENV

T = TypeVar("T")

ENV_TAG = "provision:env"
ADDRESS_TAG = "provision:address"
# Hex characters kept of the sha256: 128 bits. EC2's ClientToken takes up to 64 ASCII characters.
TOKEN_LENGTH = 32

# Errors that say nothing about the request itself: the cloud was busy or broken.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "EC2ThrottledException",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
    }
)
# The NotFound of an id: on AWS, possibly an id so new that not every part of the API
# knows it yet. (Not `InvalidPermission.NotFound`: that one is about a rule.)
ID_NOT_FOUND_CODES = frozenset(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidGroupId.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidInstanceID.NotFound",
        "InvalidKeyPair.NotFound",
        "InvalidAssociationID.NotFound",
        "InvalidNetworkInterfaceID.NotFound",
        "NoSuchBucket",
        "DBInstanceNotFound",
        "DBInstanceNotFoundFault",
        "DBSubnetGroupNotFoundFault",
    }
)

Sleep = Callable[[float], None]
Clock = Callable[[], float]
Draw = Callable[[], float]  # uniform in [0, 1): the jitter


@dataclass(frozen=True)
class Backoff:
    """How long to wait between attempts, and when to give up.

    `attempts` bounds the sends of one create that fail transiently (like botocore's
    standard mode, 8); `settle_bound` bounds, in seconds, the total time spent
    waiting for a new id to become known everywhere.
    """

    first: float = 0.25
    cap: float = 8.0
    attempts: int = 8
    settle_bound: float = 120.0

    def delay(self, retry: int, draw: float) -> float:
        """The wait before retry number `retry` (from 0): doubling, capped, with jitter."""
        ceiling = min(self.cap, self.first * 2.0**retry)
        return ceiling / 2 + draw * ceiling / 2


BACKOFF = Backoff()


def current_run_id() -> str | None:
    """The id of the run this process belongs to, if it was started by one."""
    return os.environ.get(RUN_ID_ENV) or None


def creation_token(tags: Mapping[str, str], run_id: str | None) -> str:
    """The idempotency token of one resource's create in one run.

    sha256 of (environment, address, run id), from the resource's own tags; every
    attempt of the create carries the same one, and no other create does. Without a
    run id or those tags (a bare Pulumi program), a random token: still the same
    for every attempt of this one create call.
    """
    environment, address = tags.get(ENV_TAG), tags.get(ADDRESS_TAG)
    if not (run_id and environment and address):
        return secrets.token_hex(TOKEN_LENGTH // 2)
    digest = hashlib.sha256("\0".join((environment, address, run_id)).encode()).hexdigest()
    return digest[:TOKEN_LENGTH]


def error_code(error: BaseException) -> str | None:
    """The cloud's error code in a ClientError (or in the last answer of a waiter)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "") or None
    if isinstance(error, WaiterError):
        last = error.last_response or {}
        return str(last.get("Error", {}).get("Code") or "") or None
    return None


def is_transient(error: BaseException) -> bool:
    """True for throttling, 5xx, dropped or reset connections and read timeouts."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or error_code(error) in TRANSIENT_CODES
    return False


def is_unknown_id(error: BaseException) -> bool:
    """True for the NotFound of an id, which may only mean that the id is very new."""
    return error_code(error) in ID_NOT_FOUND_CODES


def create_exactly_once(
    send: Callable[[], T],
    find: Callable[[], T | None],
    *,
    landed: Collection[str] = frozenset(),
    backoff: Backoff = BACKOFF,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    draw: Draw = random.random,
) -> T:
    """What `send` makes, made once however many attempts it takes.

    `send` is one attempt (a client that does not retry); `find` looks up what an
    earlier attempt may have made, by its create token, and returns it to adopt
    (or None: nothing to adopt). Transient errors are retried `backoff.attempts`
    times in all; the NotFound of a referenced id (a subnet in a VPC that is a
    second old) is retried within `backoff.settle_bound`; so are the codes in
    `landed`, which a re-send meets when an earlier attempt did make the resource
    (a duplicate name): the next lookup adopts it. Any other error fails at once.

    After an attempt that may have reached the cloud, `find` runs before every
    re-send and once more before giving up, so nothing made is left untracked.
    """
    deadline = clock() + backoff.settle_bound
    failures = 0
    retry = 0
    maybe_made = False
    while True:
        if maybe_made:
            found = find()
            if found is not None:
                return found
        try:
            return send()
        except (ClientError, BotoCoreError) as error:
            if is_transient(error):
                failures += 1
                maybe_made = True
                give_up = failures >= backoff.attempts
            elif is_unknown_id(error) or (maybe_made and error_code(error) in landed):
                give_up = clock() >= deadline
            else:
                give_up = True
            if give_up:
                found = find() if maybe_made else None
                if found is not None:
                    return found
                raise
        sleep(backoff.delay(retry, draw()))
        retry += 1


def settle(
    call: Callable[[], T],
    *,
    backoff: Backoff = BACKOFF,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    draw: Draw = random.random,
) -> T:
    """`call`, retried while it meets the NotFound of an id, for `backoff.settle_bound` at most.

    For calls that name an id that may have just been created (describe, tag,
    modify, attach, associate, authorize). Transient errors are the client's own
    retries' business.
    """
    deadline = clock() + backoff.settle_bound
    retry = 0
    while True:
        try:
            return call()
        except (ClientError, WaiterError) as error:
            if not is_unknown_id(error) or clock() >= deadline:
                raise
        sleep(backoff.delay(retry, draw()))
        retry += 1


def already_done(
    call: Callable[[], object], codes: Collection[str], in_wanted_state: Callable[[], bool]
) -> None:
    """`call`, where an error in `codes` is success if the cloud is in the state we wanted.

    For a call whose repeat (after a lost answer, by the client's retries) meets
    its own first attempt: authorize twice is a duplicate, revoke twice a NotFound.
    `in_wanted_state` checks the cloud itself, so a conflict with something else
    still fails.
    """
    try:
        call()
    except ClientError as error:
        if error_code(error) not in codes or not in_wanted_state():
            raise


def delete_confirmed(
    delete: Callable[[], object],
    still_there: Callable[[], bool],
    gone_codes: Collection[str],
    *,
    backoff: Backoff = BACKOFF,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    draw: Draw = random.random,
) -> None:
    """Run `delete` until the thing is gone.

    An error in `gone_codes` (NotFound, not attached) ends it only if `still_there`
    (a filtered describe, which eventual consistency cannot fail) says it is gone;
    while it is still listed the delete is retried, within `backoff.settle_bound`.
    """
    deadline = clock() + backoff.settle_bound
    retry = 0
    while True:
        try:
            delete()
            return
        except ClientError as error:
            if error_code(error) not in gone_codes:
                raise
            if not still_there():
                return
            if clock() >= deadline:
                raise
        sleep(backoff.delay(retry, draw()))
        retry += 1
