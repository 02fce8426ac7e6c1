"""Every command names itself, describes itself, lists its exit codes and fails a bad argument in one line.

The commands are called in-process (their ``main``), so the names checked are the ones ``--help`` prints, not
whatever ``sys.argv[0]`` happens to be; a subprocess run of ``credit-score-train`` checks what a build log sees.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

import model_downloader
import test as local_invoke
from credit_score.cli import USAGE_EXIT, CommandParser, PlainText, plain_streams
from credit_score.devtools import serve
from credit_score.modelling import download_cli
from credit_score.modelling.training import cli as training
from credit_score.modelling.training.cascade import THRESHOLD_FOLDS
from credit_score.monitoring import cli as drift
from credit_score.monitoring.report import EXIT_ERROR
from tests.support.paths import ROOT

Main = Callable[[list[str]], object]

COMMANDS: dict[str, tuple[Main, dict[int, str]]] = {
    "credit-score-train": (training.train_main, training.EXIT_CODES),
    "credit-score-evaluate": (training.evaluate_main, training.EXIT_CODES),
    "python -m credit_score.modelling.training": (training.main, training.EXIT_CODES),
    "credit-score-download": (download_cli.main, download_cli.EXIT_CODES),
    "model_downloader.py": (model_downloader.main, download_cli.EXIT_CODES),
    "credit-score-serve": (serve.main, serve.EXIT_CODES),
    "credit-score-drift": (drift.main, drift.EXIT_TEXT),
    "test.py": (local_invoke.main, local_invoke.EXIT_CODES),
}

BAD_ARGUMENTS = [
    ("credit-score-train", ["--tracking-uri", "notascheme://x"], USAGE_EXIT, "unsupported tracking URI scheme"),
    ("credit-score-train", ["--seed", "many"], USAGE_EXIT, "--seed"),
    ("credit-score-evaluate", ["--data", "x.csv"], USAGE_EXIT, "--bundle"),
    ("python -m credit_score.modelling.training", ["fit"], USAGE_EXIT, "invalid choice"),
    ("credit-score-download", ["--tracking-uri", "notascheme://x"], USAGE_EXIT, "unsupported tracking URI scheme"),
    ("model_downloader.py", ["--version", "abc"], USAGE_EXIT, "--version"),
    ("credit-score-serve", ["--port", "http"], USAGE_EXIT, "--port"),
    ("credit-score-drift", ["--capture", "capture", "--warn", "-1"], EXIT_ERROR, "--warn"),
    ("test.py", ["no-such-file.json"], USAGE_EXIT, "cannot read"),
    ("test.py", ["README.md"], USAGE_EXIT, "not JSON"),
]


def _exit(main: Main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_given_help_when_asked_then_the_command_names_itself_describes_itself_and_lists_exit_codes(prog, capsys):
    main, codes = COMMANDS[prog]

    assert _exit(main, ["--help"]) == 0
    text = capsys.readouterr().out

    assert text.startswith(f"usage: {prog} "), text[:200]
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 8, f"{prog} needs a description"
    table = text.split("exit codes:\n", 1)[1]
    listed = {int(code) for code in re.findall(r"^  (\d+)  \S", table, re.M)}
    assert set(codes) <= listed
    assert len(listed) >= 2


def test_given_the_module_form_when_asked_for_help_then_each_subcommand_is_described(capsys):
    _exit(training.main, ["--help"])
    text = capsys.readouterr().out

    for command in ("train", "evaluate", "synthetic-profile"):
        line = re.search(rf"^    {command}(?: +|\n {{10,}})(\S.*)$", text, re.M)
        assert line, f"{command} has no description:\n{text}"


@pytest.mark.parametrize(("prog", "argv", "code", "hint"), BAD_ARGUMENTS, ids=lambda value: str(value)[:40])
def test_given_a_bad_argument_when_run_then_one_line_on_stderr_and_the_usage_exit_code(prog, argv, code, hint, capsys):
    main, _ = COMMANDS[prog]

    assert _exit(main, argv) == code
    captured = capsys.readouterr()

    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"{prog}: error: ")
    assert hint in lines[0]
    assert captured.out == ""


def test_given_a_bad_uri_in_the_environment_when_downloading_then_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "notascheme://x")

    assert download_cli.main(["--output", str(tmp_path / "model")]) == 2

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert "unsupported tracking URI scheme" in lines[0]


def test_given_no_bundle_when_the_server_starts_then_it_refuses_in_one_line(tmp_path, capsys):
    assert serve.main(["--port", "0", "--model-dir", str(tmp_path / "absent")]) == 1

    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert "no loadable model bundle" in captured.err
    assert "--allow-no-model" in captured.err


def test_given_allow_no_model_when_the_server_starts_without_a_bundle_then_it_serves_and_answers_500(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "METRICS_ENABLED": "false"}
    command = [sys.executable, "-m", "credit_score.devtools.serve", "--port", "0", "--allow-no-model"]
    command += ["--model-dir", str(tmp_path / "absent")]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = process.stderr.readline()
        assert "serving on http://" in line, line
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_given_a_parser_when_its_exit_codes_omit_usage_then_the_usage_code_is_added():
    parser = CommandParser(prog="x", description="d", exit_codes={0: "ok"})

    assert parser.exit_codes == {0: "ok", USAGE_EXIT: "usage error (a bad or missing argument)"}
    assert "  2  usage error" in parser.format_help()


def test_given_mlflow_colours_a_warning_when_stderr_is_no_terminal_then_the_codes_are_dropped(monkeypatch):
    from mlflow.utils.logging_utils import MlflowFormatter

    def emit() -> str:
        target = io.StringIO()
        monkeypatch.setattr(sys, "stderr", target)
        plain = "plain" in emitted
        if plain:
            plain_streams()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(MlflowFormatter("%(message)s"))
        record = logging.LogRecord("mlflow.x", logging.WARNING, __file__, 1, "careful", None, None)
        record.color = "yellow"
        handler.emit(record)
        return target.getvalue()

    emitted: list[str] = []
    coloured = emit()
    emitted.append("plain")
    plain = emit()

    assert "\x1b[33m" in coloured  # MLflow does colour its lines into a file...
    assert plain == "careful\n"  # ...and the commands' streams drop the codes


def test_given_a_terminal_when_plain_streams_then_it_is_left_alone(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())

    plain_streams()

    assert sys.stderr is terminal
    assert isinstance(sys.stdout, PlainText)


@pytest.mark.slow
def test_given_training_when_run_as_a_build_step_then_progress_lines_and_no_colour_codes(tmp_path):
    env = {**os.environ, "LOCAL_REGISTRY_DIR": str(tmp_path / "registry"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("MLFLOW_TRACKING_URI", "DAGSHUB_REPO", "MODEL_NAME"):
        env.pop(name, None)
    command = [ROOT / ".venv" / "bin" / "credit-score-train", "--synthetic", "1500", "--model-name", "cli-progress"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "\x1b[" not in result.stderr + result.stdout
    boosters = 2 * (THRESHOLD_FOLDS + 1)
    expected = [r"^rows: \d+ read", rf"^fitting {boosters} boosters", rf"^fitted {boosters} boosters in"]
    expected += [r"^step test passed", r"^proof passed: none of the \d+ trees"]
    expected += [r"^logging the run to sqlite:", r"^registered 'cli-progress' version 1$"]
    positions = [re.search(pattern, result.stderr, re.M) for pattern in expected]
    assert all(positions), result.stderr[-3000:]
    assert [match.start() for match in positions] == sorted(match.start() for match in positions)
