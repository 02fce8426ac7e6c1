"""The registered MLflow model: the 21 raw fields in, class probabilities and the label out.

The seed's clients send the raw fields as strings; this pyfunc parses them with the same contract
code as the Lambda (``credit_score.contract`` ships with the model as code), encodes them, and
runs the two LightGBM boosters with the cascade's formula and thresholds
(``credit_score.modelling.artifacts``). So ``mlflow models serve``, ``mlflow.pyfunc.load_model`` and
Spark UDFs on a registry version answer what the Lambda answers, without this repository.

A record the contract refuses fails the whole call with the problem fields and kinds listed,
never the submitted values (MLflow's scoring server answers 400).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from credit_score.contract.bundle import CLASSES
from credit_score.contract.fields import FIELD_NAMES, encode, parse_record
from credit_score.modelling.artifacts import class_probabilities, load_cascade, threshold_labels

LABEL_COLUMN = "label"
CODE_COLUMN = "code"
CASCADE_ARTIFACT = "cascade"
PROBABILITY_COLUMNS: tuple[str, ...] = tuple(f"probability_{label}" for _, label in CLASSES)
MAX_LISTED_PROBLEMS = 20
# Only what the pyfunc imports travels with it: the contract, the artifact layout and this module.
SHIPPED_MODULES = ("contract", "modelling/__init__.py", "modelling/artifacts.py")
# Not a copy of the package's empty __init__.py: an empty file is uploaded with chunked encoding, which
# some artifact proxies cannot forward.
PACKAGE_DOC = '"""credit_score, reduced to what the registered pyfunc imports."""\n'
SHIPPED_TRAINING = ("__init__.py", "pyfunc.py")


class CascadeModel(mlflow.pyfunc.PythonModel):
    """Raw records (a DataFrame with the 21 field columns) → label, code and three probabilities."""

    def load_context(self, context: Any) -> None:
        self.cascade = load_cascade(context.artifacts[CASCADE_ARTIFACT])

    # No type hints on the inputs: MLflow would derive a signature from them instead of the saved one.
    def predict(self, context, model_input, params=None):
        """The label, code and class probabilities of each record; refuses the call on any field problem."""
        import pandas as pd

        records = model_input.to_dict(orient="records") if hasattr(model_input, "to_dict") else list(model_input)
        parsed, problems = [], []
        for index, record in enumerate(records):
            values, found = parse_record({key: _plain(value) for key, value in record.items()}, index)
            parsed.append(values)
            problems.extend(found)
        if problems:
            from mlflow.exceptions import MlflowException
            from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

            shown = problems[:MAX_LISTED_PROBLEMS]
            listed = "; ".join(f"record {problem.index}: {problem.message}" for problem in shown)
            raise MlflowException(f"{len(problems)} field problems: {listed}", error_code=INVALID_PARAMETER_VALUE)
        margins = self.cascade.margins(encode(parsed))
        probabilities = class_probabilities(margins)
        codes = threshold_labels(margins, self.cascade.thresholds)
        labels = dict(CLASSES)
        frame = pd.DataFrame(probabilities, columns=list(PROBABILITY_COLUMNS))
        frame.insert(0, CODE_COLUMN, codes)
        frame.insert(0, LABEL_COLUMN, [labels[int(code)] for code in codes])
        return frame


def _plain(value: Any) -> Any:
    """pandas hands NaN for an absent cell and numpy scalars for numbers; the contract wants None and floats."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _stage_code(target: Path) -> Path:
    """A copy of the ``credit_score`` package reduced to what the pyfunc imports; returns its folder."""
    source = Path(__file__).resolve().parents[2]
    package = target / "credit_score"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PACKAGE_DOC, encoding="utf-8")
    for name in SHIPPED_MODULES:
        origin, destination = source / name, package / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, destination)
    for name in SHIPPED_TRAINING:
        (package / "modelling" / "training").mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / "modelling" / "training" / name, package / "modelling" / "training" / name)
    return package


def save_pyfunc(target: str | os.PathLike[str], cascade_dir: Path, example: list[dict[str, str]]) -> None:
    """Write the pyfunc at ``target``: 21 string fields in; ``cascade_dir`` (boosters + cascade.json) as its artifact.

    ``cascade_dir`` must hold nothing else: MLflow copies the whole folder into the model.
    """
    import lightgbm
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    frame = pd.DataFrame(example, columns=list(FIELD_NAMES))
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", name) for name in FIELD_NAMES]),
        outputs=Schema(
            [ColSpec("string", LABEL_COLUMN), ColSpec("long", CODE_COLUMN)]
            + [ColSpec("double", name) for name in PROBABILITY_COLUMNS]
        ),
    )
    artifacts = {CASCADE_ARTIFACT: str(cascade_dir)}
    with tempfile.TemporaryDirectory(prefix="pyfunc-code-") as scratch:
        mlflow.pyfunc.save_model(
            str(target),
            python_model=CascadeModel(),
            artifacts=artifacts,
            code_paths=[str(_stage_code(Path(scratch)))],
            signature=signature,
            input_example=frame,
            # Explicit requirements: inferring them re-imports the model in a subprocess, slowly.
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"lightgbm=={lightgbm.__version__}",
                f"numpy=={np.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )
