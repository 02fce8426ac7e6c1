"""The old Lambda handler: everything at import, then per request 22 metric calls and an S3 rewrite.

Environment: ``OLD_MODEL_PATH`` (the joblib file), ``OLD_BUCKET`` (where the daily CSV lives),
``OLD_AWS_CALLS`` (``0`` skips the metric calls and the CSV rewrite: the model path alone, the old
design's best case, which ``benchmarks.compare`` measures against our compute path).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import joblib

from benchmarks.old_style.daily_csv import append_line
from benchmarks.old_style.encoding import CATEGORIES, NUMERIC_NAMES, encode_row

MODEL = joblib.load(os.environ["OLD_MODEL_PATH"])
BUCKET = os.environ["OLD_BUCKET"]
AWS_CALLS = os.environ.get("OLD_AWS_CALLS", "1") != "0"
S3 = boto3.client("s3")
CLOUDWATCH = boto3.client("cloudwatch")
LABELS = ("Poor", "Standard", "Good")
FIELD_NAMES = NUMERIC_NAMES + tuple(name for name, _ in CATEGORIES)


def publish_metrics(data: dict[str, Any], prediction: int) -> None:
    """One PutMetricData per field, the raw value as a dimension, and one for the prediction."""
    for name in FIELD_NAMES:
        CLOUDWATCH.put_metric_data(
            Namespace="CreditScoreOld",
            MetricData=[{"MetricName": "Input", "Dimensions": [{"Name": name, "Value": str(data[name])}], "Value": 1}],
        )
    label = [{"Name": "label", "Value": LABELS[prediction]}]
    CLOUDWATCH.put_metric_data(
        Namespace="CreditScoreOld", MetricData=[{"MetricName": "Prediction", "Dimensions": label, "Value": 1}]
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = event.get("body", event)
    data = (json.loads(body) if isinstance(body, str) else body)["data"]
    probabilities = MODEL.predict_proba([encode_row(data)])[0]
    prediction = int(probabilities.argmax())
    if AWS_CALLS:
        publish_metrics(data, prediction)
        now = datetime.now(UTC)
        request_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        append_line(S3, BUCKET, f"predictions/{now:%Y-%m-%d}.csv", f"{now.isoformat()},{request_id},{prediction}\n")
    answer = {"prediction": prediction, "label": LABELS[prediction], "probabilities": probabilities.tolist()}
    return {"statusCode": 200, "body": json.dumps(answer)}
