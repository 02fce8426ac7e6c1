"""The shadow challenger: a second bundle in the same function, scored after the answer, into the capture.

``CHALLENGER_MODEL_DIR`` names a second verified bundle (the image build downloads the registry's
``challenger`` alias there, with the champion's verification); unset, or a folder with no bundle in
it, means no challenger. For ``CHALLENGER_SAMPLING_PERCENT`` (default 100) of the captured
invocations, the challenger scores the same validated records and its result joins each capture
record as ``"challenger": {"model", "version", "prediction", "label", "probabilities", "reasons"}``
(``reasons``: its reason codes, as the champion's record carries them; probabilities rounded as in an
answer). It is exactly what the challenger bundle alone would have answered.

A challenger never touches the answer: it is loaded on first use and scored by the flusher's
thread after the answer is posted (``flusher.py``), before that invocation's capture is stored, so
its figures land in the same record. Without a flusher (local runs) it runs where capture runs,
after the answer is built and before the handler returns; the answer's bytes are the same. Its
failures (unloadable bundle, a fault while scoring) are logged without values and counted in the
``ChallengerFailures`` metric, never surfaced; an unloadable bundle is retried at most every
:data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from credit_score.contract.bundle import METADATA_FILE
from credit_score.contract.capture import CHALLENGER
from credit_score.runtime.config import Settings
from credit_score.runtime.errors import ModelUnavailable
from credit_score.runtime.logs import Log
from credit_score.runtime.model import Model
from credit_score.runtime.payload import Batch
from credit_score.runtime.predict import Options, predict_batch

__all__ = ["Challenger"]

RETRY_SECONDS = 300.0
_CODES_ONLY = Options(explain=True, contributions=False)

Defer = Callable[[Callable[[], Any]], bool]


class Challenger:
    """One challenger bundle, loaded lazily; :meth:`shadow` adds its figures to capture records."""

    def __init__(
        self,
        model_dir: Path,
        *,
        log: Log,
        sampling_percent: float = 100.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model_dir = model_dir
        self.sampling_percent = sampling_percent
        self._log = log
        self._rng = rng or random.Random()  # noqa: S311 (sampling, not secrecy)
        self._clock = clock
        self._model: Model | None = None
        self._retry_at = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, *, log: Log) -> Challenger | None:
        """The configured challenger; ``None`` when ``CHALLENGER_MODEL_DIR`` is unset or holds no bundle."""
        folder = settings.challenger_model_dir
        if folder is None:
            return None
        if not (folder / METADATA_FILE).exists():
            log.info("challenger_absent", reason="CHALLENGER_MODEL_DIR holds no bundle")
            return None
        return cls(folder, log=log, sampling_percent=settings.challenger_sampling_percent)

    def sampled(self) -> bool:
        return self.sampling_percent >= 100.0 or self._rng.random() * 100.0 < self.sampling_percent

    def model(self) -> Model:
        """The loaded challenger; :class:`ModelUnavailable` while it cannot be (retried now and then)."""
        if self._model is not None:
            return self._model
        if self._clock() < self._retry_at:
            raise ModelUnavailable("challenger bundle failed to load; retrying later")
        try:
            self._model = Model.load(self.model_dir, threads=1)
        except ModelUnavailable:
            self._retry_at = self._clock() + RETRY_SECONDS
            raise
        return self._model

    def score(self, batch: Batch) -> list[dict[str, Any]]:
        """The challenger's figures for each record of ``batch``, as its bundle alone would answer."""
        model = self.model()
        outcome = predict_batch(batch, model, request_id="challenger", options=_CODES_ONLY)
        answers = outcome.body.get("predictions", [outcome.body])
        reasons: Sequence[list[str] | None] = outcome.reasons or [None] * len(answers)
        return [
            {
                "model": model.name,
                "version": model.version,
                "prediction": answer["prediction"],
                "label": answer["label"],
                "probabilities": answer["probabilities"],
                "reasons": codes,
            }
            for answer, codes in zip(answers, reasons, strict=True)
        ]

    def shadow(
        self,
        batch: Batch,
        records: list[dict[str, Any]],
        *,
        defer: Defer | None,
        failed: Callable[[int], None],
        request_id: str | None = None,
    ) -> None:
        """Add the challenger's figures to ``records`` after the answer (``defer``), or now without one.

        Deferred first, the scoring runs before the capture store deferred after it.
        """

        def run() -> None:
            try:
                for record, figures in zip(records, self.score(batch), strict=True):
                    record[CHALLENGER] = figures
            except Exception as error:  # never the caller's problem: logged without values, counted
                reason = error.reason if isinstance(error, ModelUnavailable) else type(error).__name__
                self._log.warning("challenger_failed", request_id=request_id, reason=reason)
                failed(1)

        if defer is None or not defer(run):
            run()
