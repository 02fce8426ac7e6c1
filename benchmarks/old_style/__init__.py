"""The design this service replaces, rebuilt only to be measured against it (and to show its flaws).

What it did, per request, in the Lambda function itself:

* an XGBoost model unpickled with joblib when the module is imported;
* the request turned into a list of 47 values (17 numbers, 30 one-hot flags) with ``float()`` and
  string comparisons, no validation (a bad value is an unhandled exception: a 500);
* 22 ``PutMetricData`` calls, one per input field plus one for the prediction, each with the raw
  customer value as a dimension (unbounded cardinality, customer data in CloudWatch);
* the prediction appended to a daily CSV in S3 by reading the whole object, adding a line and
  writing it back: concurrent invocations overwrite each other's lines.

Not part of the service: nothing under ``src/`` imports it.
"""
