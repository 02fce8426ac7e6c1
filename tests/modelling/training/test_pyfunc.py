"""The registered pyfunc: one row per record (refused ones with ``error``), one signature, its own package name."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from credit_score.contract.decision import Decision, decide
from credit_score.contract.fields import FIELD_NAMES, encode, parse_record
from credit_score.modelling.artifacts import load_cascade, save_cascade
from credit_score.modelling.explainer import build_tables
from credit_score.modelling.training import pyfunc
from credit_score.modelling.training.pyfunc import (
    DECISION_COLUMNS,
    ERROR_COLUMN,
    OUTPUT_COLUMNS,
    PROBABILITY_COLUMNS,
    REASONS_COLUMN,
    REFUSED_CODE,
    REFUSED_LABEL,
    SPARK_RESULT_TYPE,
    save_pyfunc,
    stage_code,
)
from credit_score.runtime.explainer import Explainer
from tests.support.bundles import synthetic_records
from tests.support.paths import ROOT
from tests.support.registry_models import train_cascade


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registered-model folder as training writes it (a small cascade, the real save path)."""
    folder = tmp_path_factory.mktemp("pyfunc")
    cascade_dir = save_cascade(train_cascade(seed=4), folder / "cascade")
    save_pyfunc(folder / "model", cascade_dir, synthetic_records(2, seed=4))
    return folder / "model"


@pytest.fixture
def model(saved: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.pyfunc.PyFuncModel:
    monkeypatch.setattr(sys, "path", list(sys.path))  # loading prepends the model's code/ folder
    return mlflow.pyfunc.load_model(str(saved))


def expected(saved: Path, records: list[dict[str, str]]) -> tuple[np.ndarray, Decision]:
    """Probabilities of the cascade itself and the contract's decision, from the contract's strict parser."""
    cascade = load_cascade(saved / "artifacts" / "cascade")
    matrix = encode([parse_record(record)[0] for record in records])
    return cascade.probabilities(matrix), decide(cascade.margins(matrix), cascade.thresholds)


def test_given_saved_model_when_reading_its_signature_then_one_output_schema_and_the_errors_param(saved: Path) -> None:
    signature = Model.load(saved).signature

    assert signature.inputs.input_names() == list(FIELD_NAMES)
    assert {spec.type.name for spec in signature.inputs.inputs} == {"string"}
    outputs = {spec["name"]: spec for spec in signature.outputs.to_dict()}
    assert list(outputs) == list(OUTPUT_COLUMNS)
    assert outputs["prediction"]["type"] == "long"
    assert outputs["label"]["type"] == "string"
    assert {outputs[name]["type"] for name in (*PROBABILITY_COLUMNS, *DECISION_COLUMNS)} == {"double"}
    assert (outputs[ERROR_COLUMN]["type"], outputs[ERROR_COLUMN]["items"]) == ("array", {"type": "string"})
    assert (outputs[REASONS_COLUMN]["type"], outputs[REASONS_COLUMN]["items"]) == ("array", {"type": "string"})
    assert [(p.name, p.default) for p in signature.params.params] == [("errors", "auto"), ("reasons", True)]


def test_given_batch_with_refused_records_when_predicting_then_every_record_gets_a_row_and_valid_ones_are_scored(
    saved: Path, model: mlflow.pyfunc.PyFuncModel
) -> None:
    records = synthetic_records(30, seed=8)
    records[3] = {**records[3], "Age": "secret-417"}
    records[11] = {**records[11], "Interest_Rate": "5000", "Payment_of_Min_Amount": "maybe"}
    records[29] = {**records[29], "Num_of_Loan": "2.5"}
    frame = pd.DataFrame(records, columns=list(FIELD_NAMES))

    answer = model.predict(frame)

    assert list(answer.columns) == list(OUTPUT_COLUMNS)
    assert len(answer) == 30
    refused = [3, 11, 29]
    assert answer[ERROR_COLUMN][refused].tolist() == [
        ["Age: not_a_number"],
        ["Interest_Rate: out_of_domain", "Payment_of_Min_Amount: unknown_category"],
        ["Num_of_Loan: not_a_whole_number"],
    ]
    listed = str(answer[ERROR_COLUMN].tolist())
    assert "secret-417" not in listed
    assert "5000" not in listed
    assert answer.loc[refused, list(PROBABILITY_COLUMNS) + list(DECISION_COLUMNS)].isna().all().all()
    assert answer["prediction"][refused].tolist() == [REFUSED_CODE] * 3
    assert answer["label"][refused].tolist() == [REFUSED_LABEL] * 3
    valid = [i for i in range(30) if i not in refused]
    assert answer[ERROR_COLUMN][valid].isna().all()
    probabilities, decision = expected(saved, [records[i] for i in valid])
    codes = decision.codes
    np.testing.assert_allclose(answer.loc[valid, list(PROBABILITY_COLUMNS)].to_numpy(float), probabilities, atol=1e-12)
    assert answer["prediction"][valid].tolist() == codes.tolist()
    assert answer["label"][valid].tolist() == [("Poor", "Standard", "Good")[code] for code in codes]
    np.testing.assert_array_equal(answer.loc[valid, list(DECISION_COLUMNS)].to_numpy(float), decision.p)
    s1 = 1.0 - probabilities[:, 0]
    np.testing.assert_allclose(decision.p, np.column_stack([s1, probabilities[:, 2] / s1]), atol=5e-7)
    assert answer.loc[refused, list(PROBABILITY_COLUMNS)].map(lambda value: value is None).all().all()  # JSON null


def test_given_batch_of_valid_records_when_predicting_then_the_numbers_are_float_columns(
    model: mlflow.pyfunc.PyFuncModel,
) -> None:
    answer = model.predict(pd.DataFrame(synthetic_records(5, seed=3), columns=list(FIELD_NAMES)))

    assert {str(answer[name].dtype) for name in (*PROBABILITY_COLUMNS, *DECISION_COLUMNS)} == {"float64"}
    assert answer[ERROR_COLUMN].isna().all()


def test_given_valid_records_when_predicting_then_reason_codes_are_the_lambda_explainers(
    saved: Path, model: mlflow.pyfunc.PyFuncModel
) -> None:
    records = synthetic_records(60, seed=12)
    records[7] = {**records[7], "Age": "300"}

    answer = model.predict(pd.DataFrame(records, columns=list(FIELD_NAMES)))

    valid = [i for i in range(60) if i != 7]
    matrix = encode([parse_record(records[i])[0] for i in valid])
    explainer = Explainer.load(io.BytesIO(build_tables(load_cascade(saved / "artifacts" / "cascade").boosters)))
    explained = (answer["prediction"][valid].to_numpy() != 0).astype(np.intp)  # Poor: standard_or_better
    fields = explainer.contributions(matrix, explained).fields
    lambda_codes = [
        [reason.to_dict("en")["code"] for reason in explainer.reasons(row, row_fields)]
        for row, row_fields in zip(matrix, fields, strict=True)
    ]
    assert answer[REASONS_COLUMN][valid].tolist() == lambda_codes
    assert sum(map(len, lambda_codes)) > len(valid)  # most rows have reasons, some several
    assert answer[REASONS_COLUMN][7] is None


def test_given_reasons_off_when_predicting_then_no_reasons_and_the_same_numbers(
    model: mlflow.pyfunc.PyFuncModel,
) -> None:
    frame = pd.DataFrame(synthetic_records(20, seed=13), columns=list(FIELD_NAMES))

    plain = model.predict(frame, params={"reasons": False})

    explained = model.predict(frame)
    assert plain[REASONS_COLUMN].isna().all()
    assert explained[REASONS_COLUMN].map(lambda codes: isinstance(codes, list)).all()
    pd.testing.assert_frame_equal(plain.drop(columns=REASONS_COLUMN), explained.drop(columns=REASONS_COLUMN))


def test_given_only_refused_records_when_predicting_a_batch_then_rows_not_a_failure(
    model: mlflow.pyfunc.PyFuncModel,
) -> None:
    records = [{**record, "Age": ""} for record in synthetic_records(2, seed=1)]

    answer = model.predict(pd.DataFrame(records, columns=list(FIELD_NAMES)))

    assert answer[ERROR_COLUMN].tolist() == [["Age: missing"], ["Age: missing"]]


def test_given_one_refused_record_when_predicting_then_the_call_fails_naming_the_field_not_the_value(
    model: mlflow.pyfunc.PyFuncModel,
) -> None:
    record = {**synthetic_records(1, seed=2)[0], "Age": "secret-417"}

    with pytest.raises(MlflowException, match="record 0: Age") as refused:
        model.predict(pd.DataFrame([record], columns=list(FIELD_NAMES)))

    assert "secret-417" not in str(refused.value)
    assert refused.value.get_http_status_code() == 400


def test_given_one_refused_record_and_errors_rows_when_predicting_then_a_row(model: mlflow.pyfunc.PyFuncModel) -> None:
    record = {**synthetic_records(1, seed=2)[0], "Age": "secret-417"}

    answer = model.predict(pd.DataFrame([record], columns=list(FIELD_NAMES)), params={"errors": "rows"})

    assert answer[ERROR_COLUMN].tolist() == [["Age: not_a_number"]]


def test_given_unknown_errors_param_when_predicting_then_refused(model: mlflow.pyfunc.PyFuncModel) -> None:
    frame = pd.DataFrame(synthetic_records(2, seed=2), columns=list(FIELD_NAMES))

    with pytest.raises(MlflowException, match="'errors' must be"):
        model.predict(frame, params={"errors": "ignore"})


def test_given_staged_code_then_it_names_only_its_own_package(tmp_path: Path) -> None:
    package, name = stage_code(tmp_path)

    assert name.startswith("credit_score_")
    assert package.name == name
    shipped = {path.relative_to(package).as_posix() for path in package.rglob("*.py")}
    assert {"contract/fields.py", "modelling/artifacts.py", "modelling/training/pyfunc.py"} <= shipped
    assert "runtime" not in {path.split("/")[0] for path in shipped}
    texts = [path.read_text() for path in package.rglob("*.py")]
    assert not any("credit_score." in text for text in texts)
    assert any(f"from {name}.contract.fields import" in text for text in texts)


def test_given_changed_source_when_staging_then_the_package_name_changes() -> None:
    sources = pyfunc._shipped_sources()
    first = pyfunc.package_name(sources)
    changed = {**sources, "contract/fields.py": sources["contract/fields.py"] + b"\n# changed\n"}

    assert pyfunc.package_name(dict(sources)) == first
    assert pyfunc.package_name(changed) != first


# Run in a fresh interpreter: this test process imported credit_score long ago.
ISOLATION = textwrap.dedent(
    """
    import json, sys
    import mlflow.pyfunc
    import pandas as pd

    model_dir, records, order = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    if order == "package-first":
        import credit_score.contract.fields as caller_fields

        def broken(*args, **kwargs):
            raise AssertionError("the model called the caller's contract code")

        caller_fields.parse_batch = caller_fields.parse_record = broken
    model = mlflow.pyfunc.load_model(model_dir)
    loaded_package = "credit_score" in sys.modules
    answer = model.predict(pd.DataFrame(records))
    if order == "model-first":
        import credit_score.runtime.predict  # the caller's full package, not the model's cut-down copy
    import credit_score
    python_model = model.unwrap_python_model()
    print(json.dumps({
        "loaded_package": loaded_package,
        "caller_package": credit_score.__file__,
        "model_module": sys.modules[type(python_model).__module__].__file__,
        "errors": answer["error"].tolist(),
        "probabilities": answer["probability_Poor"].tolist(),
    }))
    """
)


@pytest.mark.parametrize("order", ["model-first", "package-first"])
def test_given_process_with_the_repository_package_when_loading_the_model_then_neither_shadows_the_other(
    saved: Path, tmp_path: Path, order: str
) -> None:
    records = synthetic_records(3, seed=6)
    records[1] = {**records[1], "Age": "200"}

    finished = subprocess.run(
        [sys.executable, "-c", ISOLATION, str(saved), json.dumps(records), order],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"), "MLFLOW_DISABLE_TELEMETRY": "true"},
        check=False,
    )

    assert finished.returncode == 0, finished.stderr[-3000:]
    seen = json.loads(finished.stdout.strip().splitlines()[-1])
    assert seen["loaded_package"] is (order == "package-first")
    assert Path(seen["caller_package"]).resolve() == (ROOT / "src" / "credit_score" / "__init__.py").resolve()
    assert Path(seen["model_module"]).resolve().is_relative_to(saved.resolve())
    assert seen["errors"] == [None, ["Age: out_of_domain"], None]
    probabilities, _ = expected(saved, [records[0], records[2]])
    np.testing.assert_allclose([seen["probabilities"][0], seen["probabilities"][2]], probabilities[:, 0], atol=1e-12)


def test_given_the_batch_page_then_it_shows_the_result_type_and_the_models_requirements(saved: Path) -> None:
    page = (ROOT / "docs" / "batch.md").read_text(encoding="utf-8")

    assert SPARK_RESULT_TYPE in page
    pins = (saved / "requirements.txt").read_text().split()
    assert pins
    assert [pin for pin in pins if pin not in page] == []


def test_given_frame_with_columns_beyond_the_fields_when_predicting_then_they_are_ignored(
    model: mlflow.pyfunc.PyFuncModel,
) -> None:
    frame = pd.DataFrame(synthetic_records(3, seed=5), columns=list(FIELD_NAMES))
    wider = frame.assign(ID=["a", "b", "c"], SSN=["1", "2", "3"])

    pd.testing.assert_frame_equal(model.predict(wider), model.predict(frame))
