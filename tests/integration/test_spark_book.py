"""The loan book on Spark: the registered model from a real local registry, ``mlflow.pyfunc.spark_udf`` on ``local[2]``.

The shared August file (every field a string, a fifth of its rows refused by the contract) is
scored as a lender's monthly rescoring would: every row comes back, valid rows as ``app.handler``
answers them from the bundle of the same version, refused rows with ``error`` and no numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import app
from credit_score.contract.decision import QUESTIONS
from credit_score.contract.fields import FIELD_NAMES, PROBLEM_KINDS, parse_batch
from credit_score.modelling.downloader import Selection, download
from credit_score.modelling.registry import local_registry
from credit_score.modelling.training.data import read_raw_csv
from credit_score.modelling.training.pyfunc import (
    DECISION_COLUMNS,
    ERROR_COLUMN,
    OUTPUT_COLUMNS,
    PROBABILITY_COLUMNS,
    REASONS_COLUMN,
    REFUSED_CODE,
    REFUSED_LABEL,
    SPARK_RESULT_TYPE,
)
from credit_score.modelling.training.train import train
from tests.support.lambda_context import LambdaContext
from tests.support.mlflow_server import NO_TELEMETRY, REGISTRY_ENV
from tests.support.paths import REAL_DATA
from tests.support.spark import local_spark

pytest.importorskip("pyspark", reason="pyspark is pinned in requirements-spark.txt; make test installs it")
pytestmark = pytest.mark.integration

NAME = "spark-book"
ROUNDS = (40, 30)  # a real cascade of the shared file, small enough to train in seconds
HANDLER_BATCH = 500
LABELS = ("Poor", "Standard", "Good")


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Version 1 of ``NAME`` trained on the shared file into a sqlite registry, and its downloaded bundle."""
    if not REAL_DATA.is_file():
        pytest.skip(f"real data set not found at {REAL_DATA} (../shared beside the repository)")
    root = tmp_path_factory.mktemp("spark-book")
    with pytest.MonkeyPatch.context() as patch:
        for name in REGISTRY_ENV:
            patch.delenv(name, raising=False)
        for name, value in NO_TELEMETRY.items():
            patch.setenv(name, value)
        uri = local_registry(root / "registry").tracking_uri
        result = train(read_raw_csv(REAL_DATA), model_name=NAME, tracking_uri=uri, rounds=ROUNDS)
        download(Selection(NAME, version=int(result.version)), root / "bundle", tracking_uri=uri)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri, root / "bundle"
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    """The shared file as Spark's CSV reader sees it (and docs/batch.md reads it with pandas): every field
    a string, an empty cell absent (None)."""
    frame = pd.read_csv(REAL_DATA, dtype=str, keep_default_na=False, na_values=[""])
    return frame.astype(object).where(frame.notna(), None)


@pytest.fixture(scope="module")
def spark_scored(registered: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """One Spark session: the whole file with the inferred result type, a slice with the documented one,
    and one refused record alone in its DataFrame (a batch of one row)."""
    from pyspark.sql.functions import col

    with local_spark(tmp_path_factory.mktemp("spark")) as spark:
        columns = [col(name) for name in FIELD_NAMES]
        frame = spark.read.csv(str(REAL_DATA), header=True)  # no schema inference: every field a string
        inferred = mlflow.pyfunc.spark_udf(spark, f"models:/{NAME}/1", env_manager="local")
        documented = mlflow.pyfunc.spark_udf(
            spark, f"models:/{NAME}/1", result_type=SPARK_RESULT_TYPE, env_manager="local"
        )
        whole = frame.select("ID", inferred(*columns).alias("score")).select("ID", "score.*").toPandas()
        typed = frame.limit(300).select("ID", documented(*columns).alias("score"))
        schemas = [typed.schema["score"].dataType.simpleString()]
        schemas.append(frame.select(inferred(*columns).alias("score")).schema["score"].dataType.simpleString())
        typed_rows = typed.select("ID", "score.*").toPandas()
        alone = frame.where(col("ID") == whole.loc[whole[ERROR_COLUMN].notna(), "ID"].iloc[0]).coalesce(1)
        single = alone.select("ID", inferred(*columns).alias("score")).select("ID", "score.*").toPandas()
    return {"whole": whole, "typed": typed_rows, "single": single, "schemas": pd.DataFrame({"type": schemas})}


def handler_answers(bundle: Path, records: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``app.handler``'s answers (reasons included, as by default) in batches the Lambda accepts."""
    monkeypatch.setenv("MODEL_DIR", str(bundle))
    monkeypatch.setenv("CAPTURE_URI", str(bundle.parent / "capture"))
    monkeypatch.setattr(app, "_service", None)
    answers: list[dict] = []
    for start in range(0, len(records), HANDLER_BATCH):
        response = app.handler({"data": records[start : start + HANDLER_BATCH]}, LambdaContext("spark-book"))
        assert response["statusCode"] == 200, response["body"][:500]
        answers.extend(json.loads(response["body"])["predictions"])
    return answers


def test_given_the_shared_file_when_scored_on_spark_then_every_row_comes_back_refused_ones_with_error(
    spark_scored: dict[str, pd.DataFrame], book: pd.DataFrame
) -> None:
    whole = spark_scored["whole"].set_index("ID")
    _, _, problems = parse_batch(book[list(FIELD_NAMES)].to_dict(orient="records"))
    refused_ids = set(book["ID"].iloc[sorted({problem.index for problem in problems})])

    assert sorted(whole.index) == sorted(book["ID"])
    assert set(whole.index[whole[ERROR_COLUMN].notna()]) == refused_ids
    assert 0.1 < len(refused_ids) / len(book) < 0.5  # the file's junk: about a fifth of its rows
    refused = whole.loc[sorted(refused_ids)]
    kinds = {entry.split(": ", 1)[1] for errors in refused[ERROR_COLUMN] for entry in errors}
    fields = {entry.split(": ", 1)[0] for errors in refused[ERROR_COLUMN] for entry in errors}
    assert kinds <= set(PROBLEM_KINDS)
    assert fields <= set(FIELD_NAMES)
    assert refused[list(PROBABILITY_COLUMNS) + list(DECISION_COLUMNS) + [REASONS_COLUMN]].isna().all().all()
    assert set(refused["prediction"]) == {REFUSED_CODE}
    assert set(refused["label"]) == {REFUSED_LABEL}


def test_given_the_shared_file_when_scored_on_spark_then_valid_rows_answer_like_the_handler(
    spark_scored: dict[str, pd.DataFrame],
    book: pd.DataFrame,
    registered: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = spark_scored["whole"].set_index("ID")
    valid = whole[whole[ERROR_COLUMN].isna()]
    records = book.set_index("ID").loc[valid.index, list(FIELD_NAMES)].to_dict(orient="records")

    answers = handler_answers(registered[1], records, monkeypatch)

    lambda_p = np.array([[answer["probabilities"][label] for label in LABELS] for answer in answers])
    assert np.abs(valid[list(PROBABILITY_COLUMNS)].to_numpy(float) - lambda_p).max() <= 1e-6
    assert valid["label"].tolist() == [answer["label"] for answer in answers]
    assert valid["prediction"].tolist() == [answer["prediction"] for answer in answers]
    lambda_reasons = [[reason["code"] for reason in answer["reasons"]] for answer in answers]
    assert [list(codes) for codes in valid[REASONS_COLUMN]] == lambda_reasons
    assert sum(map(len, lambda_reasons)) > len(valid)
    lambda_decisions = np.array([[answer["decision"][question]["p"] for question in QUESTIONS] for answer in answers])
    assert np.abs(valid[list(DECISION_COLUMNS)].to_numpy(float) - lambda_decisions).max() <= 1.01e-6
    assert len(set(valid["label"])) == 3


def test_given_the_shared_file_when_scored_on_spark_and_with_pandas_then_the_same_rows(
    spark_scored: dict[str, pd.DataFrame], book: pd.DataFrame, registered: tuple[str, Path]
) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    pandas_rows = model.predict(book[list(FIELD_NAMES)]).set_axis(book["ID"])
    spark_rows = spark_scored["whole"].set_index("ID").loc[pandas_rows.index]

    numbers = list(PROBABILITY_COLUMNS) + list(DECISION_COLUMNS)
    np.testing.assert_array_equal(spark_rows[numbers].to_numpy(float), pandas_rows[numbers].to_numpy(float))
    assert spark_rows["label"].tolist() == pandas_rows["label"].tolist()
    assert spark_rows["prediction"].tolist() == pandas_rows["prediction"].tolist()
    for column in (ERROR_COLUMN, REASONS_COLUMN):
        as_lists = [None if values is None else list(values) for values in spark_rows[column]]
        assert as_lists == pandas_rows[column].tolist(), column


def test_given_the_documented_result_type_when_scoring_on_spark_then_a_struct_of_the_signature(
    spark_scored: dict[str, pd.DataFrame],
) -> None:
    typed = spark_scored["typed"].set_index("ID")
    inferred = spark_scored["whole"].set_index("ID").loc[typed.index]

    documented, inferred_type = spark_scored["schemas"]["type"]
    assert documented == inferred_type
    assert documented.startswith("struct<prediction:bigint,label:string,probability_Poor:double,")
    assert list(typed.columns) == list(OUTPUT_COLUMNS)
    pd.testing.assert_frame_equal(typed, inferred)


def test_given_a_refused_record_alone_in_a_spark_batch_when_scoring_then_a_row_not_a_failed_job(
    spark_scored: dict[str, pd.DataFrame],
) -> None:
    single = spark_scored["single"]

    assert len(single) == 1
    assert single[ERROR_COLUMN][0] is not None
    assert len(single[ERROR_COLUMN][0]) >= 1
    assert np.isnan(single["probability_Poor"][0])
