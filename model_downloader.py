"""Fetch a registered model and write the verified ONNX bundle the Lambda serves (the design card's entry).

    python model_downloader.py [--model-name NAME] [--alias ALIAS | --version N | --latest] [--output DIR]

The command lives in :mod:`credit_score.modelling.download_cli` (also installed as ``credit-score-download``);
this file lets a checkout run it without installing the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from credit_score.modelling import download_cli
from credit_score.modelling.download_cli import build_parser
from credit_score.modelling.registry import MLFLOW_DEFAULTS

__all__ = ["MLFLOW_DEFAULTS", "PROG", "build_parser", "main"]

PROG = "model_downloader.py"


def main(argv: list[str] | None = None) -> int:
    """The download command under this file's name (usage lines and errors say ``model_downloader.py``)."""
    return download_cli.main(argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
