"""moto's AWS over real HTTP on 127.0.0.1, counting every request and injecting faults on demand.

The benchmarks count the AWS calls each design makes per prediction; the reliability tests make S3
fail (500, 503, SlowDown, answers slower than the client's read timeout) on a share of calls. Both
wrap moto's WSGI application in a small middleware and serve it with werkzeug's threaded server,
the way ``moto.server.ThreadedMotoServer`` does.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
REGION = "eu-west-1"


@dataclass(frozen=True)
class Call:
    service: str
    method: str
    path: str


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or besides) answering: an error status, or a delay.

    ``delay_s`` with ``forward=False`` answers 503 after the delay without storing anything (the
    client has given up by then); with ``forward=True`` the request is served, then delayed.
    """

    status: int = 503
    code: str = "ServiceUnavailable"
    delay_s: float = 0.0
    forward: bool = False


INTERNAL_ERROR = Fault(500, "InternalError")
UNAVAILABLE = Fault(503, "ServiceUnavailable")
SLOW_DOWN = Fault(503, "SlowDown")

FaultPlan = Callable[[Call], Fault | None]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access line per request: the benchmarks make thousands."""


class _Middleware:
    def __init__(self, app: Any, owner: LocalAws) -> None:
        self.app = app
        self.owner = owner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        call = Call(scope.group(1) if scope else "unsigned", environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
        fault = self.owner.record(call)
        if fault is None:
            return self.app(environ, start_response)
        if fault.forward:
            body = list(self.app(environ, start_response))
            time.sleep(fault.delay_s)
            return body
        time.sleep(fault.delay_s)
        error = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.code}</Code>"
            f"<Message>injected fault</Message><RequestId>fault</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(error)))]
        start_response(f"{fault.status} Injected", headers)
        return [error]


class LocalAws:
    """``with LocalAws() as aws:`` moto on a free port of 127.0.0.1; ``aws.url``, ``aws.calls``."""

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.faults = faults
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        app = _Middleware(DomainDispatcherApplication(create_backend_app), self)
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, call: Call) -> Fault | None:
        with self._lock:
            self.calls.append(call)
            return self.faults(call) if self.faults else None

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(call.service for call in self.calls)

    def environment(self) -> dict[str, str]:
        """Variables pointing boto3 at this server with dummy credentials, and nowhere else."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, service: str, *, pool: int = 10) -> Any:
        """A client of this server; ``pool`` connections, for callers that share it across threads."""
        import boto3
        from botocore.config import Config

        env = self.environment()
        return boto3.client(
            service,
            config=Config(max_pool_connections=pool),
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
        )

    def start(self) -> LocalAws:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def new_bucket(client: Any, prefix: str) -> str:
    """A bucket of its own (moto's state is shared by every server in the process)."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def read_bucket(client: Any, bucket: str, prefix: str = "") -> Iterator[tuple[str, bytes]]:
    """Every object under ``prefix``: (key, body)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
