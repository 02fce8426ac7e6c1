"""Run-time settings of the handler, read once per container into a frozen :class:`Settings`.

Environment variables (explicit arguments to :meth:`Settings.from_env` win over them):

``MODEL_DIR``
    Folder of the model bundle. Default: ``model/`` next to ``app.py`` (``$LAMBDA_TASK_ROOT/model``).
``MAX_BATCH_SIZE``
    Most records one request may carry; more is refused with 413. Whole number, default 1000, at most
    :data:`MAX_BATCH_LIMIT`: the largest answer must fit Lambda's 6 MB response limit (see
    :data:`ANSWER_BYTES_PER_RECORD`), so a larger value is refused at configuration time. A front door
    with a smaller limit (an ALB: 1 MB) answers 413 before scoring when the batch's answer, with the
    options asked for, could exceed it, naming the limit and :func:`largest_batch`.
``MAX_BODY_BYTES``
    Largest request body accepted, after base64 decoding; more is refused with 413. Whole number,
    default 6291456 (6 MB, Lambda's own synchronous payload limit).
``CAPTURE_URI``
    Where every prediction is captured: ``s3://bucket/prefix``, ``firehose://delivery-stream`` or a
    local folder. Unset or empty: capture off (one warning per container).
``CAPTURE_SAMPLING_PERCENT``
    Share of invocations captured, 0 to 100, default 100.
``CAPTURE_KMS_KEY_ID``
    KMS key for S3 capture objects (``aws:kms``); unset: ``AES256`` server-side encryption.
``CAPTURE_BUDGET_MS``
    Most time one invocation's capture may take, whole number of milliseconds >= 10; default 2000 when
    it runs after the answer (in Lambda, where the caller never waits for it: the time is billed and
    the next invocation waits), 300 when it runs before the answer. One attempt may take all of it; it
    never runs past the Lambda's deadline. See ``capture.py`` and docs/monitoring.md for the figures.
``CAPTURE_AFTER_ANSWER``
    ``true`` (default): in Lambda, capture is stored after the response is posted, by an internal
    extension registered during init; ``false``, or where no Extensions API exists, before the
    handler returns. Read from the environment at import, when the extension must register.
``CHALLENGER_MODEL_DIR``
    Folder of a second, shadow bundle (the registry's ``challenger`` alias, put there by the image
    build); unset or a folder without a bundle: no challenger. See ``runtime/challenger.py``.
``CHALLENGER_SAMPLING_PERCENT``
    Share of captured invocations the challenger also scores, after the answer, 0 to 100, default 100.
``MODEL_THREADS``
    How many slices a large batch (128+ records) is cut into and scored concurrently, whole number
    >= 0; default 0, one per available core. Single records always run on one thread, the fastest.
``METRICS_ENABLED``
    ``false`` silences the Embedded Metric Format lines; default ``true``.
``METRICS_NAMESPACE``
    CloudWatch namespace of the metrics, default ``CreditScore``.
``POWERTOOLS_SERVICE_NAME``
    Service name in logs and the ``service`` metric dimension, default ``credit-score``.
``LOG_LEVEL``
    ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``, default ``INFO``.
``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL_FIREHOSE``)
    Read by boto3 itself, not here: points capture at a local fake of AWS in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from credit_score.runtime.errors import ConfigError

MODEL_DIR = "MODEL_DIR"
MAX_BATCH_SIZE = "MAX_BATCH_SIZE"
MAX_BODY_BYTES = "MAX_BODY_BYTES"
CAPTURE_URI = "CAPTURE_URI"
CAPTURE_SAMPLING_PERCENT = "CAPTURE_SAMPLING_PERCENT"
CAPTURE_KMS_KEY_ID = "CAPTURE_KMS_KEY_ID"
CAPTURE_BUDGET_MS = "CAPTURE_BUDGET_MS"
CAPTURE_AFTER_ANSWER = "CAPTURE_AFTER_ANSWER"
MODEL_THREADS = "MODEL_THREADS"
CHALLENGER_MODEL_DIR = "CHALLENGER_MODEL_DIR"
CHALLENGER_SAMPLING_PERCENT = "CHALLENGER_SAMPLING_PERCENT"
METRICS_ENABLED = "METRICS_ENABLED"
METRICS_NAMESPACE = "METRICS_NAMESPACE"
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
LOG_LEVEL = "LOG_LEVEL"
LAMBDA_TASK_ROOT = "LAMBDA_TASK_ROOT"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# What each front door lets a Lambda answer (the envelope's JSON, as the runtime client serialises it):
# Lambda's synchronous response is at most 6 MB (Lambda API reference, Invoke: "For synchronous
# invocations, the maximum payload size is 6 MB"), which bounds API Gateway REST and HTTP APIs (their own
# payload quota is 10 MB), Function URLs (BUFFERED mode, 6 MB) and VPC Lattice ("the maximum size of the
# response JSON that the Lambda function can send is 6 MB"); an ALB takes at most 1 MB ("The maximum size
# of the response JSON that the Lambda function can send is 1 MB", Elastic Load Balancing, "Lambda
# functions as targets"), read here as 10^6 bytes, the smaller reading. docs/security.md cites each.
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
ALB_RESPONSE_BYTES = 1_000_000
# Worst-case bytes one record adds to a success answer as the envelope carries it: the body is JSON text
# inside the JSON envelope, so its quotes count twice, and a runtime client that escapes non-ASCII
# writes each accented letter as six bytes. Measured worst cases (tests/functional/test_answer_size.py
# rebuilds them): prediction, label, probabilities and decision block about 260 bytes (the rest of the
# plain budget is room for a list of missing fields); four reasons with Portuguese texts and every
# better category about 1,300; the 21 contributions with margin and base value about 900.
ANSWER_BYTES_PLAIN = 768
ANSWER_BYTES_REASONS = 1536
ANSWER_BYTES_CONTRIBUTIONS = 1024
ANSWER_BYTES_PER_RECORD = ANSWER_BYTES_PLAIN + ANSWER_BYTES_REASONS + ANSWER_BYTES_CONTRIBUTIONS  # the fullest
ANSWER_ENVELOPE_BYTES = 4096  # status, headers, model name, version and request id around the records
MAX_BATCH_LIMIT = (LAMBDA_RESPONSE_BYTES - ANSWER_ENVELOPE_BYTES) // ANSWER_BYTES_PER_RECORD


def largest_batch(response_bytes: int, *, explain: bool, contributions: bool) -> int:
    """The most records whose answer, with these options, surely fits a front door of ``response_bytes``.

    Contributions come only with reasons (an unexplained answer has neither); the language does not
    count, the reason budget holds the longest (Portuguese) texts.
    """
    per_record = ANSWER_BYTES_PLAIN
    if explain:
        per_record += ANSWER_BYTES_REASONS + (ANSWER_BYTES_CONTRIBUTIONS if contributions else 0)
    return (response_bytes - ANSWER_ENVELOPE_BYTES) // per_record


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def default_model_dir(environ: Mapping[str, str]) -> Path:
    """``model/`` beside ``app.py``: the task root in the Lambda image, ``src/`` in a checkout."""
    root = environ.get(LAMBDA_TASK_ROOT) or Path(__file__).resolve().parents[2]
    return Path(root) / "model"


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    max_batch_size: int = 1000
    max_body_bytes: int = 6 * 1024 * 1024
    capture_uri: str | None = None
    capture_sampling_percent: float = 100.0
    capture_kms_key_id: str | None = None
    capture_budget_ms: int | None = None  # None: the default of where capture runs (capture.py)
    model_threads: int = 0
    challenger_model_dir: Path | None = None
    challenger_sampling_percent: float = 100.0
    metrics_enabled: bool = True
    metrics_namespace: str = "CreditScore"
    service_name: str = "credit-score"
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.max_batch_size > MAX_BATCH_LIMIT:
            raise ConfigError(
                f"{MAX_BATCH_SIZE} must be <= {MAX_BATCH_LIMIT}: the answer of that many records must fit "
                f"Lambda's {LAMBDA_RESPONSE_BYTES} byte response limit"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every variable once; raise :class:`ConfigError` naming the key and the expected type."""
        env = os.environ if environ is None else environ
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        settings = cls(
            model_dir=Path(env.get(MODEL_DIR) or default_model_dir(env)),
            max_batch_size=_whole(env, MAX_BATCH_SIZE, 1000, minimum=1),
            max_body_bytes=_whole(env, MAX_BODY_BYTES, 6 * 1024 * 1024, minimum=1),
            capture_uri=env.get(CAPTURE_URI) or None,
            capture_sampling_percent=_percent(env, CAPTURE_SAMPLING_PERCENT, 100.0),
            capture_kms_key_id=env.get(CAPTURE_KMS_KEY_ID) or None,
            capture_budget_ms=_whole(env, CAPTURE_BUDGET_MS, None, minimum=10),
            model_threads=_whole(env, MODEL_THREADS, 0, minimum=0),
            challenger_model_dir=Path(env[CHALLENGER_MODEL_DIR]) if env.get(CHALLENGER_MODEL_DIR) else None,
            challenger_sampling_percent=_percent(env, CHALLENGER_SAMPLING_PERCENT, 100.0),
            metrics_enabled=_flag(env, METRICS_ENABLED, True),
            metrics_namespace=env.get(METRICS_NAMESPACE) or "CreditScore",
            service_name=env.get(POWERTOOLS_SERVICE_NAME) or "credit-score",
            log_level=_choice(env, LOG_LEVEL, "INFO", LOG_LEVELS),
        )
        return replace(settings, **overrides) if overrides else settings


def capture_after_answer(environ: Mapping[str, str] | None = None) -> bool:
    """``CAPTURE_AFTER_ANSWER``, read on its own: the extension registers before :class:`Settings` exist."""
    return _flag(os.environ if environ is None else environ, CAPTURE_AFTER_ANSWER, True)


def _whole(env: Mapping[str, str], key: str, default: Any, *, minimum: int) -> Any:
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number >= {minimum}") from None
    if value < minimum:
        raise ConfigError(f"{key} must be a whole number >= {minimum}")
    return value


def _percent(env: Mapping[str, str], key: str, default: float) -> float:
    text = env.get(key, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number between 0 and 100") from None
    if not 0.0 <= value <= 100.0:
        raise ConfigError(f"{key} must be a number between 0 and 100")
    return value


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    text = env.get(key, "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key} must be a boolean: true or false")


def _choice(env: Mapping[str, str], key: str, default: str, choices: tuple[str, ...]) -> str:
    text = env.get(key, "").strip().upper()
    if not text:
        return default
    if text not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}")
    return text
