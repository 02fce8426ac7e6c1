"""The old capture: one CSV per day in S3, appended to by read-modify-write on every request.

Two invocations that read the object before either writes it back both write "old content + my
line": the second write silently drops the first one's line. Nothing detects the loss.
"""

from __future__ import annotations

from typing import Any

HEADER = "timestamp,request_id,prediction\n"


def append_line(s3: Any, bucket: str, key: str, line: str) -> None:
    """Read the day's CSV (or start it), add ``line``, write the whole object back."""
    try:
        content = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        content = HEADER
    s3.put_object(Bucket=bucket, Key=key, Body=(content + line).encode(), ContentType="text/csv")


def count_lines(s3: Any, bucket: str, key: str) -> int:
    """Data lines (header excluded) in the day's CSV."""
    content = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return max(0, len(content.splitlines()) - 1)
