"""One Lambda context for every in-process test: the attributes the handler reads, with Lambda's names."""

from __future__ import annotations

import time
import uuid


class LambdaContext:
    """Like the runtime client's context: a request id (a fresh uuid4 unless given) and a deadline."""

    function_name = "credit-score"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:credit-score"

    def __init__(self, request_id: str | None = None, *, timeout_ms: int = 10_000) -> None:
        self.aws_request_id = request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
