"""Build-time CLI: fetch a registered model and write the verified ONNX bundle the Lambda serves.

    python model_downloader.py | credit-score-download [--model-name NAME] [--alias ALIAS | --version N | --latest]
        [--output DIR] [--tracking-uri URI] [--parity-rows N] [--verbose]

Selection defaults come from MODEL_NAME, MODEL_ALIAS and MODEL_VERSION (a number or ``latest``);
the registry from MLFLOW_TRACKING_URI, DAGSHUB_REPO + DAGSHUB_USER_TOKEN, or the local registry.
In an image build the credentials are BuildKit secret files, ``/run/secrets/<NAME>``, read when
the variable of the same name is unset.
Exit 0 with one summary line on stdout; exit 2 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import MutableMapping, Sequence
from pathlib import Path

from credit_score.cli import CommandParser
from credit_score.contract.bundle import BundleError
from credit_score.modelling.conversion import ConversionError
from credit_score.modelling.downloader import (
    LATEST,
    MIN_PARITY_ROWS,
    DownloadError,
    download,
    parse_version,
    selection_from,
)
from credit_score.modelling.registry import RegistryError, apply_client_defaults, check_scheme

EXIT_FAILURE = 2

# What a build may pass as secret files (Dockerfile: RUN --mount=type=secret,id=<NAME>).
SECRET_NAMES = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "DAGSHUB_USER_TOKEN")
SECRETS_DIR = Path("/run/secrets")


def read_secret_files(environ: MutableMapping[str, str], directory: Path = SECRETS_DIR) -> list[str]:
    """Fill each unset credential variable from ``directory/<NAME>``; return the names filled, never a value.

    Secret files keep credentials out of build args, image layers and history, and need no
    Dockerfile syntax beyond BuildKit's first (``env=`` mounts need a newer frontend image).
    A variable already set wins; an empty or unreadable file counts as absent.
    """
    filled = []
    for name in SECRET_NAMES:
        if environ.get(name):
            continue
        try:
            value = (directory / name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            environ[name] = value
            filled.append(name)
    return filled


PROG = "credit-score-download"
EXIT_CODES = {
    0: "the bundle is written and verified; one summary line on stdout",
    EXIT_FAILURE: "usage error, registry unreachable or refusing, no such model/version, or a failed parity check",
}


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


def _tracking_uri(text: str) -> str:
    try:
        return check_scheme(text)
    except RegistryError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=prog,
        description=(
            "Fetch a registered model version from MLflow (local registry, an MLflow server or DagsHub), convert "
            "it to ONNX with a parity check and write the verified bundle the Lambda serves."
        ),
        exit_codes=EXIT_CODES,
        usage_exit=EXIT_FAILURE,
    )
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
        "--tracking-uri",
        type=_tracking_uri,
        metavar="URI",
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, then DagsHub, then the local registry)",
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
    for name in ("mlflow", "alembic", "onnxmltools", "lightgbm"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    read_secret_files(os.environ, SECRETS_DIR)
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
        print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.summary(args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
