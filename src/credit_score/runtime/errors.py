"""Every failure the service answers for: one exception tree, each class carrying its HTTP status.

::

    ServiceError                 500 internal_error      a fault of ours; generic public message
    ├── ModelUnavailable         500 model_unavailable   bundle missing, tampered or unloadable
    ├── ConfigError              500 configuration_error an environment variable has a bad value
    └── ClientError              4xx                     the request is at fault; counted, never captured
        ├── BadRequest           400 bad_request         malformed JSON, base64 or payload shape
        ├── UnsupportedEvent     400 unsupported_event   an event of no known source shape
        ├── NotFound             404 not_found           GET on a path other than /health
        ├── MethodNotAllowed     405 method_not_allowed  neither GET nor POST
        ├── PayloadTooLarge      413 payload_too_large   body over MAX_BODY_BYTES or batch over MAX_BATCH_SIZE
        └── ValidationFailed     422 validation_error    field problems with record indexes, bounded

Messages are written by this code, in English, and answered in the request's language
(:mod:`credit_score.contract.messages`; codes never change); they never quote what the client sent
(values, keys, methods, paths): a credit application is customer data, and an echo would let a client size our answer.
A 422 lists at most :data:`MAX_DETAILS` problems, then counts all of them by field and by problem
kind (both bounded sets), and its body stays under :data:`MAX_ERROR_BODY_BYTES` whatever the batch.
Server faults keep their reason for the log (``reason``) and show the client only a generic message
and the request id. ``kind`` is a short word from a bounded set, safe
to use as a metric dimension.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from credit_score.contract.fields import FIELD_NAMES, OTHER_FIELD, FieldProblem
from credit_score.contract.messages import translate
from credit_score.contract.reasons import DEFAULT_LANGUAGE

GENERIC_MESSAGE = "internal error; quote the request id when reporting it"
MAX_DETAILS = 100  # problems listed one by one in a 422; the rest are only counted
MAX_ERROR_BODY_BYTES = 64 * 1024  # the most an error body may weigh, request id included


class ServiceError(Exception):
    """A failure answered with ``status``; ``code`` names it in the response body."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str = GENERIC_MESSAGE, *, kind: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind or self.code
        self.reason = reason
        self.language: str | None = None  # set where the request's language is known (a 422's payload)

    def body(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
        """The public response document, its message in ``language`` (the handler adds the request id)."""
        return {"error": self.code, "message": translate(self.message, language)}


class ModelUnavailable(ServiceError):
    code = "model_unavailable"

    def __init__(self, reason: str) -> None:
        super().__init__(GENERIC_MESSAGE, reason=reason)


class ConfigError(ServiceError):
    code = "configuration_error"

    def __init__(self, reason: str) -> None:
        super().__init__(GENERIC_MESSAGE, reason=reason)


class ClientError(ServiceError):
    status = 400
    code = "bad_request"


class BadRequest(ClientError):
    pass


class UnsupportedEvent(ClientError):
    code = "unsupported_event"


class NotFound(ClientError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ClientError):
    status = 405
    code = "method_not_allowed"
    allow: ClassVar[str] = "GET, POST"


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class ValidationFailed(ClientError):
    """Field problems of every record at once: the first :data:`MAX_DETAILS` in ``details`` (field, index,
    problem, message), all of them counted in ``counts`` by field and by problem kind."""

    status = 422
    code = "validation_error"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        records = len({problem.index for problem in problems})
        noun = "record" if records == 1 else "records"
        listed = "see details" if len(problems) <= MAX_DETAILS else f"the first {MAX_DETAILS} are in details"
        super().__init__(f"{len(problems)} invalid field value(s) in {records} {noun}; {listed}")
        self.problems = tuple(problems)

    def body(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
        details = [
            {**problem.to_dict(), "message": translate(problem.message, language)}
            for problem in self.problems[:MAX_DETAILS]
        ]
        body = {
            **super().body(language),
            "problem_count": len(self.problems),
            "counts": {
                "by_field": dict(Counter(problem.field for problem in self.problems)),
                "by_problem": self.kinds(),
            },
            "truncated": len(details) < len(self.problems),
            "details": details,
        }
        # Messages are ours but of varying length: shed details until the body fits, keeping the counts.
        while details and len(json.dumps(body, separators=(",", ":"))) > MAX_ERROR_BODY_BYTES - 128:
            del details[len(details) // 2 :]
            body["truncated"] = True
        return body

    def kinds(self) -> dict[str, int]:
        """How many problems of each kind, for the ValidationErrors metric."""
        return dict(Counter(problem.problem for problem in self.problems))

    def fields(self) -> dict[str, int]:
        """How many problems per field, for the ``request`` log line: a name outside the contract is
        counted as :data:`OTHER_FIELD`, since a key the client chose may itself be customer data."""
        return dict(Counter(p.field if p.field in _CONTRACT_FIELDS else OTHER_FIELD for p in self.problems))


_CONTRACT_FIELDS = frozenset(FIELD_NAMES)
