"""Scoring a whole loan book: rows per second on Spark ``local[2]``, pandas ``predict`` and the Lambda batch path.

``python -m benchmarks.book`` (``make bench-book``; ``--quick`` for a small cascade and fewer
repeats) trains the production cascade (``training.cascade`` defaults) on the shared file (or
``CREDIT_SCORE_CSV``) into a throw-away sqlite registry, downloads its bundle as the image build
does, then scores the file's every row, in one process and one run:

* **Spark**: ``mlflow.pyfunc.spark_udf`` on ``models:/…/1`` over the cached CSV (every field a
  string, one partition per core) on ``local[2]``, written to Spark's ``noop`` sink so that every row is computed and
  nothing is collected; the first run (Python workers start, each task loads the model) is
  reported apart from the warm median.
* **pandas**: ``mlflow.pyfunc.load_model(...).predict(frame)`` on the same rows.
* **Lambda batch path**: the real handler (``Service``, metrics on, capture off) called in process
  with direct-invocation events of ``MAX_BATCH_SIZE`` (1,000) records. The Lambda refuses a whole
  batch when one record is invalid, so it scores the rows the contract accepts only (about four in
  five); its rate is per scored row.

Each path runs with and without reasons. Writes ``benchmarks/results/book.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from benchmarks.data import ROOT, host, measure_on_shared_csv

RESULTS = ROOT / "benchmarks" / "results" / "book.json"
NAME = "book-benchmark"
LAMBDA_BATCH = 1_000
QUICK_ROUNDS = (20, 20)


def _timed(run: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Seconds of the first call, and of each of ``repeats`` further calls."""
    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return first, times


def _rate(rows: int, first: float, times: list[float]) -> dict[str, Any]:
    warm = statistics.median(times)
    return {
        "rows_per_s": round(rows / warm),
        "warm_median_s": round(warm, 3),
        "first_run_s": round(first, 3),
        "runs_s": [round(t, 3) for t in times],
    }


def _register(csv: Path, scratch: Path, rounds: tuple[int, int]) -> tuple[str, Path]:
    """Train on ``csv`` into a sqlite registry under ``scratch``; return its URI and the version's bundle."""
    from credit_score.modelling.downloader import Selection, download
    from credit_score.modelling.registry import local_registry
    from credit_score.modelling.training.data import read_raw_csv
    from credit_score.modelling.training.train import train

    uri = local_registry(scratch / "registry").tracking_uri
    with redirect_stdout(io.StringIO()):
        result = train(read_raw_csv(csv), model_name=NAME, tracking_uri=uri, rounds=rounds)
        download(Selection(NAME, version=int(result.version)), scratch / "bundle", tracking_uri=uri)
    return uri, scratch / "bundle"


def _pandas(frame: Any, repeats: int) -> tuple[dict[str, Any], Any]:
    import mlflow.pyfunc

    from credit_score.contract.fields import FIELD_NAMES

    model = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    rows = frame[list(FIELD_NAMES)]
    out = {}
    for name, params in VARIANTS.items():
        out[name] = _rate(len(rows), *_timed(lambda params=params: model.predict(rows, params=params), repeats))
    return out, model.predict(rows)


def _lambda(bundle: Path, records: list[dict[str, str]], repeats: int) -> dict[str, Any]:
    from credit_score.runtime.config import Settings
    from credit_score.runtime.service import Service
    from tests.support.lambda_context import LambdaContext

    os.environ["MODEL_DIR"] = str(bundle)
    os.environ.pop("CAPTURE_URI", None)
    context = LambdaContext("book")
    out = {}
    with redirect_stdout(io.StringIO()) as sink:
        service = Service(Settings.from_env())
        for name, flags in (("with reasons", {}), ("without reasons", {"explain": False})):

            def run(flags: dict[str, Any] = flags) -> None:
                for start in range(0, len(records), LAMBDA_BATCH):
                    response = service.handle({"data": records[start : start + LAMBDA_BATCH], **flags}, context)
                    assert response["statusCode"] == 200, response["body"][:300]
                    sink.seek(0)
                    sink.truncate()

            out[name] = _rate(len(records), *_timed(run, repeats))
    return out


def _spark(csv: Path, scratch: Path, repeats: int) -> dict[str, Any]:
    import mlflow.pyfunc

    from credit_score.contract.fields import FIELD_NAMES
    from tests.support.spark import MASTER, local_spark

    out: dict[str, Any] = {"master": MASTER}
    with local_spark(scratch / "spark", "credit-score-book-benchmark") as spark:
        from pyspark.sql.functions import col

        # One partition per core: the shared file is small enough for Spark to read as one.
        frame = spark.read.csv(str(csv), header=True).repartition(spark.sparkContext.defaultParallelism).cache()
        rows = frame.count()
        columns = [col(name) for name in FIELD_NAMES]
        out["partitions"] = frame.rdd.getNumPartitions()
        for name, params in VARIANTS.items():
            udf = mlflow.pyfunc.spark_udf(spark, f"models:/{NAME}/1", env_manager="local", params=params)
            scored = frame.select(udf(*columns).alias("score"))

            def run(scored: Any = scored) -> None:
                scored.write.format("noop").mode("overwrite").save()

            out[name] = _rate(rows, *_timed(run, repeats))
    return out


VARIANTS: dict[str, dict[str, Any]] = {"with reasons": {}, "without reasons": {"reasons": False}}


def run(csv: Path, quick: bool = False) -> dict[str, Any]:
    from credit_score.contract.fields import FIELD_NAMES
    from credit_score.modelling.training.cascade import ROUNDS
    from credit_score.modelling.training.data import read_raw_csv

    repeats = 2 if quick else 5
    rounds = QUICK_ROUNDS if quick else ROUNDS
    frame = read_raw_csv(csv)
    with tempfile.TemporaryDirectory(prefix="book-bench-") as folder:
        scratch = Path(folder)
        uri, bundle = _register(csv, scratch, rounds)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        pandas_rates, answers = _pandas(frame, repeats)
        valid = answers["error"].isna().to_numpy()
        records = frame.loc[valid, list(FIELD_NAMES)].to_dict(orient="records")
        results = {
            "spark local[2] spark_udf": _spark(csv, scratch, repeats),
            "pandas predict": pandas_rates,
            "lambda batch path (valid rows only)": _lambda(bundle, records, repeats),
        }
    for name in VARIANTS:
        base = results["pandas predict"][name]["rows_per_s"]
        for engine in results.values():
            engine[name]["vs_pandas_predict"] = round(engine[name]["rows_per_s"] / base, 2)
    return {
        "command": "python -m benchmarks.book" + (" --quick" if quick else ""),
        "host": host(),
        "data": {"file": csv.name, "rows": len(frame), "valid_rows": int(valid.sum())},
        "cascade_rounds": list(rounds),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small cascade and two repeats (development)")
    args = parser.parse_args(argv)
    results = Path(tempfile.gettempdir()) / "book-quick.json" if args.quick else RESULTS
    result = measure_on_shared_csv(lambda csv: run(csv, args.quick), results)
    if result is None:
        return 1
    json.dump(result["results"], sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
