"""A real local Spark session, small enough for a shared two-core machine, for the batch test and benchmark.

Java must be on the PATH (``.ci/run`` installs Debian's OpenJDK 17 when it is missing). The workers
run this interpreter, so they import the same pinned MLflow, LightGBM and pandas as the driver.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MASTER = "local[2]"
SETTINGS = {
    "spark.driver.memory": "768m",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.python.worker.reuse": "true",
}


class NoJava(RuntimeError):
    """Spark needs a Java runtime and none is on the PATH."""


@contextmanager
def local_spark(scratch: Path, app_name: str = "credit-score-book") -> Iterator[Any]:
    """A ``local[2]`` SparkSession whose temporary files live under ``scratch``; stopped on exit."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise NoJava("Spark needs Java 17: install openjdk-17-jre-headless (.ci/run does when it is missing)")
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(MASTER).appName(app_name).config("spark.local.dir", str(scratch))
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()
