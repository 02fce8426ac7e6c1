"""The registered MLflow model: the 21 raw fields in, one row out for every record, scored or refused.

The seed's clients send the raw fields as strings; this pyfunc parses them with the same contract
code as the Lambda, encodes them, and runs the two LightGBM boosters with the cascade's formula and
thresholds (``credit_score.modelling.artifacts``). So ``mlflow models serve``,
``mlflow.pyfunc.load_model`` and ``mlflow.pyfunc.spark_udf`` on a registry version answer what the
Lambda answers, without this repository.

**One row per record.** A record the contract refuses gets a row with ``error`` (its problems as
``"Field: kind"``, never the submitted values) and no probabilities; the other records of the call
are scored. A call of exactly one record that is refused still fails, so that ``mlflow models
serve`` answers a single bad record with a 400 as before; inside a Spark task (a batch of one row
is a slice of a job there) or with ``params={"errors": "rows"}`` it is a row like any other.

**Columns** (:data:`OUTPUT_COLUMNS`, one schema in the signature): ``prediction`` (class code, -1
when refused), ``label`` ("" when refused), the three ``probability_*``, ``reasons`` (the reason
codes, in order, by the contract's rule; ``params={"reasons": False}`` skips them), the two decision numbers
``decision_standard_or_better`` = P(y >= Standard) and ``decision_good_given_standard`` = P(Good |
y >= Standard) as the decision block prints them (``credit_score.contract.decision``: the label
follows from these rounded numbers, as in the Lambda's answer), and ``error``. Refused rows carry
nulls where Spark can hold them (doubles, arrays) and the markers above where it cannot:
``mlflow.pyfunc.spark_udf`` casts a struct's long and string fields with numpy when a batch mixes
values and nulls, so a null there fails the task (long) or arrives as the text "None" (string).
Arrays are null-safe, hence ``error`` is an array of strings, null when the record was scored;
select scored rows with ``error IS NULL``.

**Own package name.** The code ships with the model under a name of its own, ``credit_score_<hash
of the shipped sources>`` (see :func:`stage_code`), loaded through MLflow's models-from-code entry
file: loading the model never puts a ``credit_score`` package in the caller's process nor reads
the caller's, and two model versions with different code never share modules.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from credit_score.contract.bundle import CLASSES
from credit_score.contract.decision import decide
from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES, encode_rows, parse_batch
from credit_score.contract.reasons import EXPLAINED_MARGIN_BY_CLASS, REASONS_BY_KEY, field_state, select_reasons
from credit_score.modelling.artifacts import class_probabilities, load_cascade

PREDICTION_COLUMN = "prediction"
LABEL_COLUMN = "label"
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"probability_{label}" for _, label in CLASSES)
REASONS_COLUMN = "reasons"
DECISION_COLUMNS: tuple[str, str] = ("decision_standard_or_better", "decision_good_given_standard")
ERROR_COLUMN = "error"
# The output columns and their types, once: the signature and the Spark result type are both read from it.
OUTPUT_TYPES: dict[str, str] = {
    PREDICTION_COLUMN: "long",
    LABEL_COLUMN: "string",
    **dict.fromkeys(PROBABILITY_COLUMNS, "double"),
    REASONS_COLUMN: "array<string>",
    **dict.fromkeys(DECISION_COLUMNS, "double"),
    ERROR_COLUMN: "array<string>",
}
OUTPUT_COLUMNS: tuple[str, ...] = tuple(OUTPUT_TYPES)
# ``result_type`` of ``mlflow.pyfunc.spark_udf`` (Spark DDL): the same struct spark_udf infers from the signature.
SPARK_RESULT_TYPE = ", ".join(f"{name} {kind}" for name, kind in OUTPUT_TYPES.items())
REFUSED_CODE = -1
REFUSED_LABEL = ""
CASCADE_ARTIFACT = "cascade"
MAX_LISTED_PROBLEMS = 20
# Params (declared in the model's params schema): "auto" refuses a call of one refused record (a 400
# from `mlflow models serve`), "rows" always answers with rows.
ERRORS_PARAM = "errors"
ERRORS_AUTO, ERRORS_ROWS = "auto", "rows"
REASONS_PARAM = "reasons"  # false skips the attribution (about half the scoring time), the column is null
# Which field (FIELD_NAMES index) each of the model's columns belongs to: contributions add up per field.
_COLUMN_FIELD = np.array([FIELD_NAMES.index(name.split("=", 1)[0]) for name in FEATURE_NAMES], dtype=np.intp)

PACKAGE = "credit_score"
# Only what the pyfunc imports travels with it: the contract, the artifact layout and this module.
SHIPPED = ("contract", "modelling/__init__.py", "modelling/artifacts.py", "modelling/training/__init__.py")
SHIPPED_MODULE = "modelling/training/pyfunc.py"
ENTRY_FILE = "credit_score_model.py"
# Not a copy of the package's empty __init__.py: an empty file is uploaded with chunked encoding, which
# some artifact proxies cannot forward.
PACKAGE_DOC = '"""credit_score, reduced to what the registered pyfunc imports, under a name of its own."""\n'
ENTRY = '''"""Entry point of the registered model (MLflow models-from-code): its own copy of the scoring code."""

import mlflow.models

from {package}.modelling.training.pyfunc import CascadeModel

mlflow.models.set_model(CascadeModel())
'''


class CascadeModel(mlflow.pyfunc.PythonModel):
    """Raw records (a DataFrame with the 21 field columns) → one row of :data:`OUTPUT_COLUMNS` per record."""

    def load_context(self, context: Any) -> None:
        self.cascade = load_cascade(context.artifacts[CASCADE_ARTIFACT])

    # No type hints on the inputs: MLflow would derive a signature from them instead of the saved one.
    def predict(self, context, model_input, params=None):
        """Score every record the contract accepts; the others get a row with ``error``."""
        import pandas as pd

        errors = (params or {}).get(ERRORS_PARAM, ERRORS_AUTO)
        explain = bool((params or {}).get(REASONS_PARAM, True))
        if errors not in (ERRORS_AUTO, ERRORS_ROWS):
            from mlflow.exceptions import MlflowException

            allowed = f"'{ERRORS_AUTO}' or '{ERRORS_ROWS}'"
            raise MlflowException.invalid_parameter_value(f"'{ERRORS_PARAM}' must be {allowed}")
        records = _records(model_input)
        rows, levels, problems = parse_batch(records)
        if problems and len(records) == 1 and errors == ERRORS_AUTO and not _in_spark_task():
            _refuse(problems)
        scored = Scored.of(self.cascade, rows, levels, problems, explain)
        return pd.DataFrame(scored.columns(), columns=list(OUTPUT_COLUMNS))


@dataclass(frozen=True)
class Scored:
    """Per record: the class code (-1 when refused), the (n, 2) margins and decision numbers (NaN when
    refused) and the problems."""

    codes: np.ndarray
    margins: np.ndarray
    decisions: np.ndarray
    problems: list[list[str]]
    reasons: list[list[str] | None]

    @classmethod
    def of(cls, cascade: Any, rows: list[Any], levels: list[Any], problems: list[Any], explain: bool) -> Scored:
        """Score the rows :func:`parse_batch` accepted, in one pass over the boosters."""
        count = len(rows)
        listed: list[list[str]] = [[] for _ in range(count)]
        for problem in problems:
            listed[problem.index].append(f"{problem.field}: {problem.problem}")
        valid = np.array([not found for found in listed], dtype=bool)
        chosen = np.flatnonzero(valid).tolist()
        margins = np.full((count, 2), np.nan)
        decisions = np.full((count, 2), np.nan)
        codes = np.full(count, REFUSED_CODE, dtype=np.int64)
        reasons: list[list[str] | None] = [None] * count
        if chosen:
            matrix = encode_rows([rows[i] for i in chosen], [levels[i] for i in chosen])
            margins[valid] = cascade.margins(matrix)
            # The contract's decision rule, as the Lambda applies it: the label follows from the printed numbers.
            decision = decide(margins[valid], cascade.thresholds)
            decisions[valid] = decision.p
            codes[valid] = decision.codes
            if explain:
                for index, codes_of_row in zip(chosen, reason_codes(cascade, matrix, codes[valid]), strict=True):
                    reasons[index] = codes_of_row
        return cls(codes, margins, decisions, listed, reasons)

    def columns(self) -> dict[str, Any]:
        """The output frame's columns, refused rows holding ``None`` (or the markers) as the module says."""
        labels = dict(CLASSES)
        numbers = np.column_stack([class_probabilities(self.margins), self.decisions])
        refused = self.codes == REFUSED_CODE
        if refused.any():  # None, not NaN: MLflow's scoring server writes NaN as a bare token, which is not JSON
            numbers = numbers.astype(object)
            numbers[refused] = None
        columns: dict[str, Any] = {
            PREDICTION_COLUMN: self.codes,
            LABEL_COLUMN: [labels.get(code, REFUSED_LABEL) for code in self.codes.tolist()],
        }
        columns.update(zip((*PROBABILITY_COLUMNS, *DECISION_COLUMNS), numbers.T, strict=True))
        columns[REASONS_COLUMN] = self.reasons
        columns[ERROR_COLUMN] = [found or None for found in self.problems]
        return columns


def reason_codes(cascade: Any, matrix: np.ndarray, codes: np.ndarray) -> list[list[str]]:
    """Each row's reason codes, in order, by the contract's one rule (``select_reasons``), as the Lambda gives them.

    The contributions are LightGBM's own path-dependent TreeSHAP (``pred_contrib``), the attribution
    the Lambda's explainer tables evaluate, of the margin the row's class is explained by (Poor:
    ``standard_or_better``, Standard and Good: ``good_given_standard``), added up per field.
    """
    fields = np.zeros((len(matrix), len(FIELD_NAMES)))
    explained = np.array([EXPLAINED_MARGIN_BY_CLASS[code] for code in codes.tolist()], dtype=np.intp)
    for margin, booster in enumerate(cascade.boosters):
        rows = np.flatnonzero(explained == margin)
        if len(rows):
            contributions = booster.predict(np.asarray(matrix[rows], dtype=np.float64), pred_contrib=True)[:, :-1]
            np.add.at(fields, (rows[:, None], _COLUMN_FIELD[None, :]), contributions)
    states = field_state(matrix)
    return [
        [REASONS_BY_KEY[(FIELD_NAMES[r.field_index], r.direction)].code for r in select_reasons(row, state)]
        for row, state in zip(fields, states, strict=True)
    ]


def _records(model_input: Any) -> list[dict[str, Any]]:
    """The input as plain records: pandas hands NaN for an absent cell and numpy scalars for numbers."""
    records = model_input.to_dict(orient="records") if hasattr(model_input, "to_dict") else list(model_input)
    return [{key: _plain(value) for key, value in record.items()} for record in records]


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _in_spark_task() -> bool:
    """Whether this call runs inside a Spark task (``TaskContext`` is pyspark's public handle on it)."""
    if "pyspark" not in sys.modules:
        return False
    from pyspark import TaskContext

    return TaskContext.get() is not None


def _refuse(problems: list[Any]) -> None:
    """Fail the call with the problem fields and kinds listed, never the values (MLflow's server answers 400)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    shown = problems[:MAX_LISTED_PROBLEMS]
    listed = "; ".join(f"record {problem.index}: {problem.message}" for problem in shown)
    raise MlflowException(f"{len(problems)} field problems: {listed}", error_code=INVALID_PARAMETER_VALUE)


# ---------------------------------------------------------------- what ships with the model


def package_name(sources: dict[str, bytes]) -> str:
    """``credit_score_<12 hex>``: the shipped sources' digest, so different code never shares a name."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name] + b"\0")
    return f"{PACKAGE}_{digest.hexdigest()[:12]}"


def _shipped_sources() -> dict[str, bytes]:
    """Relative path → bytes of every shipped file of this package (``__pycache__`` left out)."""
    source = Path(__file__).resolve().parents[2]
    files: dict[str, bytes] = {}
    for name in (*SHIPPED, SHIPPED_MODULE):
        origin = source / name
        paths = sorted(origin.rglob("*.py")) if origin.is_dir() else [origin]
        for path in paths:
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    return files


def stage_code(target: Path) -> tuple[Path, str]:
    """Copy the shipped modules into ``target/<own name>/``, imports renamed; returns the folder and the name.

    Every ``credit_score.`` reference in the copy names the copy instead, so nothing in it can import
    (or be shadowed by) the ``credit_score`` package of the process that loads the model.
    """
    sources = _shipped_sources()
    name = package_name(sources)
    package = target / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PACKAGE_DOC, encoding="utf-8")
    reference = re.compile(rf"\b{PACKAGE}\.")
    for relative, content in sources.items():
        destination = package / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(reference.sub(f"{name}.", content.decode("utf-8")), encoding="utf-8")
    return package, name


def save_pyfunc(target: str | os.PathLike[str], cascade_dir: Path, example: list[dict[str, str]]) -> None:
    """Write the pyfunc at ``target``: 21 string fields in; ``cascade_dir`` (boosters + cascade.json) as its artifact.

    ``cascade_dir`` must hold nothing else: MLflow copies the whole folder into the model.
    """
    import lightgbm
    import pandas as pd

    frame = pd.DataFrame(example, columns=list(FIELD_NAMES))
    with tempfile.TemporaryDirectory(prefix="pyfunc-code-") as scratch:
        package, name = stage_code(Path(scratch) / "code")
        entry = Path(scratch) / ENTRY_FILE
        entry.write_text(ENTRY.format(package=name), encoding="utf-8")
        # MLflow runs the entry file while saving: the staged copy must be importable for that moment only.
        sys.path.insert(0, str(package.parent))
        try:
            mlflow.pyfunc.save_model(
                str(target),
                python_model=str(entry),
                artifacts={CASCADE_ARTIFACT: str(cascade_dir)},
                code_paths=[str(package)],
                signature=signature(),
                input_example=frame,
                # Explicit requirements: inferring them re-imports the model in a subprocess, slowly.
                pip_requirements=[
                    f"mlflow=={mlflow.__version__}",
                    f"lightgbm=={lightgbm.__version__}",
                    f"numpy=={np.__version__}",
                    f"pandas=={pd.__version__}",
                ],
            )
        finally:
            sys.path.remove(str(package.parent))
            for module in [module for module in sys.modules if module == name or module.startswith(f"{name}.")]:
                del sys.modules[module]


def signature() -> Any:
    """21 string fields in; :data:`OUTPUT_TYPES` out; the ``errors`` and ``reasons`` params."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import Array

    types = {"long": DataType.long, "string": DataType.string, "double": DataType.double}
    types["array<string>"] = Array(DataType.string)
    return ModelSignature(
        inputs=Schema([ColSpec(DataType.string, name) for name in FIELD_NAMES]),
        outputs=Schema([ColSpec(types[kind], name) for name, kind in OUTPUT_TYPES.items()]),
        params=ParamSchema(
            [ParamSpec(ERRORS_PARAM, DataType.string, ERRORS_AUTO), ParamSpec(REASONS_PARAM, DataType.boolean, True)]
        ),
    )
