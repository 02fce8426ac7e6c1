"""Which Docker CLI the image tests use, and the one line they fail with when no engine can run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.image import engine


def fake_cli(folder: Path, name: str, *, version: str, buildx: bool) -> str:
    """A stand-in CLI answering ``version`` and ``buildx version`` as a real one would."""
    path = folder / name
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = buildx ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = version ]; then echo {version}; exit 0; fi\n'
        "exit 1\n"
    )
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def no_docker_on_path(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    monkeypatch.setattr(engine, "Path", lambda value: Path("/nonexistent" if value == "/usr/bin/docker" else value))
    return monkeypatch


def test_given_new_cli_without_buildx_and_old_cli_when_choosing_then_the_old_one_with_classic_buildkit(
    tmp_path: Path, no_docker_on_path: pytest.MonkeyPatch
) -> None:
    new = fake_cli(tmp_path, "docker-28", version="28.2.2", buildx=False)
    old = fake_cli(tmp_path, "docker-20", version="20.10.24+dfsg1", buildx=False)
    no_docker_on_path.setenv("DOCKER", new)
    no_docker_on_path.setattr(engine.shutil, "which", lambda name: old if name == "docker" else None)
    assert engine._choose_cli() == (old, False)


def test_given_cli_with_buildx_when_choosing_then_buildx(tmp_path: Path, no_docker_on_path: pytest.MonkeyPatch) -> None:
    cli = fake_cli(tmp_path, "docker", version="28.2.2", buildx=True)
    no_docker_on_path.setenv("DOCKER", cli)
    assert engine._choose_cli() == (cli, True)


def test_given_only_a_new_cli_without_buildx_when_choosing_then_none(
    tmp_path: Path, no_docker_on_path: pytest.MonkeyPatch
) -> None:
    no_docker_on_path.setenv("DOCKER", fake_cli(tmp_path, "docker", version="28.2.2", buildx=False))
    assert engine._choose_cli() is None


def test_given_no_engine_can_run_when_run_then_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse() -> engine.Engine:
        raise engine.EngineError("dockerd did not start (log /tmp/x): permission denied")

    monkeypatch.setattr(engine, "ensure_engine", refuse)
    assert engine.main(["run", "--", "true"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "image-test: no container engine can run here: dockerd did not start (log /tmp/x): permission denied"
    ]
