"""Build-time CLI: fetch a registered model and write the verified ONNX bundle the Lambda serves.

    python model_downloader.py | credit-score-download [--model-name NAME] [--alias ALIAS | --version N | --latest]
        [--output DIR] [--tracking-uri URI] [--parity-rows N] [--verbose]

Selection defaults come from MODEL_NAME, MODEL_ALIAS and MODEL_VERSION (a number or ``latest``);
the registry from MLFLOW_TRACKING_URI, DAGSHUB_REPO + DAGSHUB_USER_TOKEN, or the local registry.
Exit 0 with one summary line on stdout; exit 2 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from credit_score.build.conversion import ConversionError
from credit_score.build.downloader import (
    LATEST,
    MIN_PARITY_ROWS,
    DownloadError,
    download,
    parse_version,
    selection_from,
)
from credit_score.build.registry import RegistryError, apply_client_defaults
from credit_score.contract.bundle import BundleError

EXIT_FAILURE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Usage errors are one line too, with the same exit code as every other failure."""
        self.exit(EXIT_FAILURE, f"{self.prog}: error: {message} (see --help)\n")


def _version(text: str) -> int | str:
    if text.lower() == LATEST:
        return LATEST
    try:
        return parse_version(text)
    except DownloadError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _parity_rows(text: str) -> int:
    if not text.isdigit() or int(text) < MIN_PARITY_ROWS:
        raise argparse.ArgumentTypeError(f"must be a whole number >= {MIN_PARITY_ROWS}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="model_downloader.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model-name", metavar="NAME", help="registered model name (env MODEL_NAME, default credit-score-classifier)"
    )
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--alias", help="registered model alias (env MODEL_ALIAS, default champion)")
    choice.add_argument(
        "--version", type=_version, metavar="N", help=f"version number, or {LATEST} (env MODEL_VERSION)"
    )
    choice.add_argument("--latest", action="store_true", help="the highest READY version")
    parser.add_argument("--output", default="model", metavar="DIR", help="bundle folder to replace (default: model)")
    parser.add_argument(
        "--tracking-uri", metavar="URI", help="MLflow tracking URI (default: env, then DagsHub, then local)"
    )
    parser.add_argument(
        "--parity-rows",
        type=_parity_rows,
        metavar="N",
        help=f"reference rows for the ONNX parity check (default: all logged, at least {MIN_PARITY_ROWS})",
    )
    parser.add_argument("--verbose", action="store_true", help="show library logs and the traceback of a failure")
    return parser


def _quiet_libraries() -> None:
    """MLflow, alembic and scikit-learn chatter would bury the one line a build log needs."""
    for name in ("mlflow", "alembic", "skl2onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    apply_client_defaults()  # seconds, not minutes, when the registry is down
    if not args.verbose:
        _quiet_libraries()
    try:
        latest = args.latest or args.version == LATEST
        version = None if latest else args.version
        selection = selection_from(os.environ, name=args.model_name, alias=args.alias, version=version, latest=latest)
        result = download(selection, args.output, tracking_uri=args.tracking_uri, parity_rows=args.parity_rows)
    except (DownloadError, RegistryError, ConversionError, BundleError) as error:
        if args.verbose:
            logging.getLogger(__name__).exception("download failed")
        message = " ".join(str(error).split())
        print(f"model_downloader.py: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.summary(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
