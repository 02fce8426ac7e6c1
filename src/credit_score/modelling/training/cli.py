"""``python -m credit_score.modelling.training`` — train, evaluate a bundle, or refresh the synthetic figures.

    train [--data PATH | --synthetic N] [--model-name NAME] [--tracking-uri URI] [--experiment NAME]
          [--seed 42] [--eval-fraction 0.2] [--force-champion] [--skip-if-registered]
    evaluate --bundle DIR --data PATH          metrics of the bundle's ONNX model, as JSON on stdout
    synthetic-profile --data PATH [--output FILE]

The registry comes from ``--tracking-uri`` or the environment (see ``credit_score.modelling.registry``); the
model name from ``--model-name``, else ``MODEL_NAME``, else ``credit-score-classifier``. Exit codes
(:data:`EXIT_CODES`, also in ``--help``): 0 done, 1 training or registry failure, 2 usage error or bad input.
``credit-score-train`` and ``credit-score-evaluate`` are ``train`` and ``evaluate`` under their own names.

``train`` checks the registry before reading data or fitting (reachable, credentials accepted, new
enough for aliases), with the downloader's retry limits, so a registry that is down or refuses us
costs seconds and one line on stderr rather than minutes of fitting and retries and MLflow's text.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from credit_score.cli import CommandParser, plain_streams
from credit_score.contract.bundle import BundleError
from credit_score.modelling.registry import (
    RegistryError,
    apply_client_defaults,
    check,
    check_scheme,
    connect,
    explain,
    resolve,
)
from credit_score.modelling.training.data import DEFAULT_EVAL_FRACTION, DEFAULT_SEED, DataError
from credit_score.modelling.training.monotonicity import MonotonicityError

DEFAULT_SYNTHETIC_ROWS = 20000
progress = logging.getLogger(__package__)  # the training modules' progress lines (INFO)


EXIT_CODES = {
    0: "done (also when the gate keeps the old champion, or --skip-if-registered skips)",
    1: "training or registry failure (a model failing the step test is never registered)",
    2: "usage error or unusable input data",
}
TRAIN_TEXT = (
    "Fit the monotone cascade on a raw CSV (label column Credit_Score: Poor, Standard, Good) or on synthetic "
    "rows, step-test it, log the run to MLflow, register a version and move the champion alias if it is "
    "better. Progress goes to stderr."
)
EVALUATE_TEXT = "Score a labelled raw CSV with a downloaded bundle's ONNX model; metrics as JSON on stdout."
PROFILE_TEXT = "Recompute the synthetic data's per-class figures from a real CSV (never its rows)."


def _tracking_uri(text: str) -> str:
    try:
        return check_scheme(text)
    except RegistryError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_train_options(train: argparse.ArgumentParser) -> None:
    source = train.add_mutually_exclusive_group()
    source.add_argument(
        "--data", type=Path, help="raw Kaggle-schema CSV with the label column Credit_Score (read as text)"
    )
    source.add_argument(
        "--synthetic",
        type=int,
        metavar="N",
        help=f"train on N synthetic demo rows (the default, with N={DEFAULT_SYNTHETIC_ROWS})",
    )
    train.add_argument("--model-name", help="registered model name (default: $MODEL_NAME or credit-score-classifier)")
    train.add_argument(
        "--tracking-uri",
        type=_tracking_uri,
        help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, DagsHub, else the local registry)",
    )
    train.add_argument("--experiment", default="credit-score", help="MLflow experiment name (default credit-score)")
    train.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"split and fit seed (default {DEFAULT_SEED})")
    train.add_argument(
        "--eval-fraction",
        type=float,
        default=DEFAULT_EVAL_FRACTION,
        help=f"share of customers held out for evaluation (default {DEFAULT_EVAL_FRACTION})",
    )
    train.add_argument("--force-champion", action="store_true", help="give the new version the alias regardless")
    train.add_argument(
        "--skip-if-registered",
        action="store_true",
        help="exit 0 without training when the model already has a champion",
    )


def _add_evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("--bundle", type=Path, required=True, help="bundle folder (model.onnx + metadata.json)")
    evaluate.add_argument("--data", type=Path, required=True, help="labelled raw Kaggle-schema CSV")


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m credit_score.modelling.training",
        description="Train and register a model, evaluate a bundle, or refresh the synthetic figures.",
        exit_codes=EXIT_CODES,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary, text, add in (
        ("train", "fit, step-test, log and register a model (credit-score-train)", TRAIN_TEXT, _add_train_options),
        (
            "evaluate",
            "score a labelled CSV with a bundle (credit-score-evaluate)",
            EVALUATE_TEXT,
            _add_evaluate_options,
        ),
    ):
        add(commands.add_parser(name, help=summary, description=text, exit_codes=EXIT_CODES))
    profile = commands.add_parser(
        "synthetic-profile", help="recompute the synthetic figures", description=PROFILE_TEXT, exit_codes=EXIT_CODES
    )
    profile.add_argument("--data", type=Path, required=True, help="real raw Kaggle-schema CSV")
    profile.add_argument("--output", type=Path, help="where to write the figures (default: the packaged file)")
    return parser


def _command_parser(prog: str, text: str, add: Any) -> argparse.ArgumentParser:
    parser = CommandParser(prog=prog, description=text, exit_codes=EXIT_CODES)
    add(parser)
    return parser


def _train(args: argparse.Namespace) -> int:
    from credit_score.modelling.training.train import has_champion, model_name_from, train

    name = model_name_from(args.model_name)
    check(connect(args.tracking_uri), name)
    if args.skip_if_registered and has_champion(name, args.tracking_uri):
        print(f"'{name}' already has a champion version; skipping training (--skip-if-registered)")
        return 0
    started = time.monotonic()
    if args.data is not None:
        from credit_score.modelling.training.data import read_raw_csv

        data, synthetic_rows = read_raw_csv(args.data), None
    else:
        data, synthetic_rows = None, DEFAULT_SYNTHETIC_ROWS if args.synthetic is None else args.synthetic
    result = train(
        data,
        synthetic_rows,
        model_name=name,
        tracking_uri=args.tracking_uri,
        experiment=args.experiment,
        seed=args.seed,
        eval_fraction=args.eval_fraction,
        force_champion=args.force_champion,
        data_label=args.data.name if args.data is not None else None,
    )
    figures = ", ".join(f"{key} {value:.4f}" for key, value in result.metrics.items() if isinstance(value, float))
    print(
        f"run {result.run_id}: registered '{result.model_name}' version {result.version} "
        f"in {time.monotonic() - started:.0f} s; evaluation: {figures}"
    )
    print(f"decision: {result.decision}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from credit_score.modelling.training.data import read_raw_csv
    from credit_score.modelling.training.evaluate import evaluate_bundle

    print(json.dumps(evaluate_bundle(args.bundle, read_raw_csv(args.data)), indent=2))
    return 0


def _synthetic_profile(args: argparse.Namespace) -> int:
    from credit_score.modelling.training.data import read_raw_csv
    from credit_score.modelling.training.synthetic import PROFILE_PATH, build_profile, write_profile

    target = write_profile(build_profile(read_raw_csv(args.data)), args.output or PROFILE_PATH)
    print(f"wrote synthetic data figures to {target}")
    return 0


def _show_progress() -> None:
    """Progress lines on stderr, as they happen; colour codes stripped when stderr is not a terminal."""
    plain_streams()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not any(getattr(h, "name", "") == "progress" for h in progress.handlers):
        handler = logging.StreamHandler()  # sys.stderr as it is now: plain unless a terminal
        handler.name = "progress"
        handler.setFormatter(logging.Formatter("%(message)s"))
        progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    return _run(_parser().parse_args(argv))


def _run(args: argparse.Namespace) -> int:
    apply_client_defaults()
    _show_progress()
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retry warnings would bury the one error line
    warnings.filterwarnings("ignore", module="mlflow")
    commands = {"train": _train, "evaluate": _evaluate, "synthetic-profile": _synthetic_profile}
    try:
        return commands[args.command](args)
    except (DataError, BundleError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except RegistryError as error:
        print(f"registry error: {error}", file=sys.stderr)
        return 1
    except MonotonicityError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    except Exception as error:
        from mlflow.exceptions import MlflowException

        if not isinstance(error, MlflowException):
            raise
        registry = resolve(getattr(args, "tracking_uri", None))
        print(f"registry error: {explain(error, registry, access='write')}", file=sys.stderr)
        return 1


def train_main(argv: Sequence[str] | None = None) -> int:
    """``credit-score-train``: the ``train`` command on its own, under its own name."""
    args = _command_parser("credit-score-train", TRAIN_TEXT, _add_train_options).parse_args(argv)
    return _run(argparse.Namespace(command="train", **vars(args)))


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    """``credit-score-evaluate``: the ``evaluate`` command on its own, under its own name."""
    args = _command_parser("credit-score-evaluate", EVALUATE_TEXT, _add_evaluate_options).parse_args(argv)
    return _run(argparse.Namespace(command="evaluate", **vars(args)))
