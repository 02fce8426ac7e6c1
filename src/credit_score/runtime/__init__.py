"""What the Lambda image runs: event sources, payloads, the model, the service, capture, metrics, logs.

Imports :mod:`credit_score.contract` and the run-time requirements only (numpy, onnxruntime, boto3).
"""
