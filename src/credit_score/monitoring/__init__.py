"""Drift monitoring: captured predictions compared with the training data's reference profile.

An offline job (build-time dependencies: numpy, scipy; boto3 for S3 and CloudWatch), never part of
the Lambda image. The flow, one module per step:

* ``reader`` — lists only the window's partitions of the capture (Hive or Firehose layout, local
  folder or S3 with paginated ListObjectsV2), streams records in bounded chunks, drops duplicates;
* ``stats`` — per-field bin, level and class counts (memory fixed by the profile, whatever the
  volume), then PSI, chi-square and verdicts against the reference profile;
* ``report`` / ``html`` — the JSON summary and the self-contained HTML page drawn from it;
* ``publish`` — per-feature metrics as EMF lines or CloudWatch PutMetricData;
* ``cli`` — ``python -m credit_score.monitoring`` (exit 0 none, 1 warn, 2 alert, 3 insufficient data,
  4 usage or I/O error);
* ``athena`` — the same PSI as SQL over the capture table, for volumes beyond one machine.

Scale (``benchmarks/drift_scale.py``, one core of the 2-core build machine): 1,000,000 captured
records in 1,000 local files (950 MB) in about 25 s, 35,000-40,000 records a second, JSON decoding
being most of it. Peak RSS about 155 MB, of which about 100 MB is the interpreter with numpy and
scipy, the rest the 2,000-record chunks, the read-ahead files and the duplicate filter (at most
2 x ``--dedup-window`` hashes); it stays there at 2,000,000 records. Reading S3 adds one GetObject
per captured invocation, fetched ``--workers`` at a time. For months of traffic (tens of millions of
records, millions of objects) run the ``athena`` statement instead: Athena reads the same partitions
in parallel and returns the same PSI per feature; the verdict is the same comparison with the
thresholds.
"""
