"""What a call's answer says: what it made, its error code; and errors in each service's format.

An injected error must look like the service's own, so that botocore parses it
(and retries a throttle or a 5xx) as it would the real one:
- EC2's Query errors: `<Response><Errors><Error><Code>...`;
- ELBv2's, RDS's and Route53's: `<ErrorResponse><Error><Type>...<Code>...`;
- S3's: `<Error><Code>...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from provisioner.local.faults import ec2
from provisioner.local.faults.calls import Call, Service

_REQUEST_ID = "fault-proxy"
_NAMESPACES = {
    Service.ELBV2: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
    Service.RDS: "http://rds.amazonaws.com/doc/2014-10-31/",
    Service.ROUTE53: "https://route53.amazonaws.com/doc/2013-04-01/",
}
# How each service says "slow down" (status, code): all codes botocore retries as throttles.
_THROTTLE = {
    Service.EC2: (503, "RequestLimitExceeded"),
    Service.ELBV2: (400, "Throttling"),
    Service.RDS: (400, "Throttling"),
    Service.S3: (503, "SlowDown"),
    Service.ROUTE53: (400, "Throttling"),
}
_INTERNAL = {
    Service.EC2: "InternalError",
    Service.ELBV2: "InternalFailure",
    Service.RDS: "InternalFailure",
    Service.S3: "InternalError",
    Service.ROUTE53: "InternalFailure",
}
# What a create's answer names that it made, after the EC2 ids: ELBv2's first ARN (the
# load balancer's, the target group's, the listener's), RDS's instance identifier or
# group name, Route53's first Id (the zone's, before its change's).
_MADE_IN_ANSWER = {
    Service.ELBV2: re.compile(rb"<\w+Arn>([^<>]+)</\w+Arn>"),
    Service.RDS: re.compile(rb"<DB\w*(?:Identifier|GroupName)>([^<>]+)</"),
    Service.ROUTE53: re.compile(rb"<Id>(?:/hostedzone/)?([^<>]+)</Id>"),
}
_ERROR_CODE = re.compile(rb"<Code>([^<>]+)</Code>")


@dataclass(frozen=True)
class ServiceError:
    """An error answer: its HTTP status, code and message."""

    status: int
    code: str
    message: str

    def payload(self, service: Service) -> bytes:
        """The answer's body, in `service`'s error format."""
        code, message = escape(self.code), escape(self.message)
        if service is Service.EC2:
            return (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{_REQUEST_ID}</RequestID></Response>"
            ).encode()
        if service is Service.S3:
            return (
                '<?xml version="1.0" encoding="UTF-8"?><Error>'
                f"<Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{_REQUEST_ID}</RequestId></Error>"
            ).encode()
        party = "Receiver" if self.status >= 500 else "Sender"
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="{_NAMESPACES[service]}">'
            f"<Error><Type>{party}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{_REQUEST_ID}</RequestId></ErrorResponse>"
        ).encode()


def throttled(service: Service) -> ServiceError:
    status, code = _THROTTLE[service]
    return ServiceError(status, code, "Rate exceeded (fault proxy).")


def server_error(service: Service) -> ServiceError:
    return ServiceError(500, _INTERNAL[service], "An internal error has occurred (fault proxy).")


def refused(call: Call, code: str) -> ServiceError:
    return ServiceError(400, code, f"{call.action} refused by the fault proxy")


def unknown_yet(name: str) -> ServiceError:
    """EC2's NotFound for an id it made moments ago."""
    message = f"The id '{name}' does not exist (fault proxy: too new)"
    return ServiceError(400, ec2.not_found_code(name), message)


def made_ids(call: Call, answer: bytes) -> tuple[str, ...]:
    """The ids (names, ARNs) that `call`'s successful answer says it made."""
    if call.service is Service.EC2:
        return ec2.made_ids(call.action, answer)
    if call.service is Service.S3:
        return (call.params["Bucket"],) if call.action == "CreateBucket" else ()
    if not call.action.startswith("Create"):
        return ()
    match = _MADE_IN_ANSWER[call.service].search(answer)
    return (match.group(1).decode(errors="replace"),) if match else ()


def error_code_of(answer: bytes) -> str | None:
    """The error code in an error answer (every service's format has `<Code>`)."""
    match = _ERROR_CODE.search(answer)
    return match.group(1).decode(errors="replace") if match else None
