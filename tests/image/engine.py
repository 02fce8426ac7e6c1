"""A container engine for the image tests: found, installed or started here, and stopped if started here.

    python -m tests.image.engine run -- COMMAND [ARGS...]

brings an engine up (Debian's ``docker.io`` through apt when the machine has none, ``dockerd``
when none runs), runs COMMAND with ``DOCKER`` naming the CLI to use, then stops the daemon if it
was started here. Without a usable engine it exits 2 with one line saying why: the image tests
never skip silently.

The CLI is the first of ``$DOCKER``, ``docker`` on PATH and ``/usr/bin/docker`` that can build
with BuildKit: through ``buildx`` when installed, else the classic ``docker build`` with
``DOCKER_BUILDKIT=1`` (a CLI of Docker 23 or later without buildx can do neither).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DAEMON_START_TIMEOUT = 90.0
INSTALL_TIMEOUT = 900.0
STATE_DIR = Path(tempfile.gettempdir()) / "credit-score-engine"
APT_PACKAGE = "docker.io"


class EngineError(RuntimeError):
    """No engine can run here; the message is the one line to show."""


class DockerError(RuntimeError):
    """A CLI command failed; the message carries the command and the tail of its output."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        super().__init__(f"{' '.join(command[:3])}… exited {returncode}:\n{output}")
        self.returncode = returncode
        self.output = output


@dataclass
class Engine:
    cli: str
    buildx: bool
    daemon: subprocess.Popen[bytes] | None = None
    _env: dict[str, str] = field(default_factory=dict)

    def docker(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 600.0,
        env: Mapping[str, str] | None = None,
        capture: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI; with ``check`` a failure raises with the command's last output lines."""
        completed = subprocess.run(
            [self.cli, *args],
            capture_output=capture,
            text=True,
            timeout=timeout,
            env={**os.environ, **self._env, **(env or {})},
            check=False,
        )
        if check and completed.returncode != 0:
            tail = "\n".join(((completed.stdout or "") + (completed.stderr or "")).splitlines()[-40:])
            raise DockerError([self.cli, *args], completed.returncode, tail)
        return completed

    def build_command(self) -> list[str]:
        """``buildx build --load`` or the classic ``build`` (BuildKit on through the environment)."""
        return ["buildx", "build", "--load"] if self.buildx else ["build"]

    def stop(self) -> None:
        """Stop the daemon if this process started it (containers it ran go with it)."""
        if self.daemon is None or self.daemon.poll() is not None:
            return
        self.daemon.terminate()
        try:
            self.daemon.wait(30)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)
        self.daemon = None


def _run(command: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)


def _client_major(cli: str) -> int | None:
    try:
        version = _run([cli, "version", "--format", "{{.Client.Version}}"]).stdout.strip()
        return int(version.split(".")[0])
    except (ValueError, OSError, subprocess.TimeoutExpired):
        return None


def _choose_cli() -> tuple[str, bool] | None:
    """The first CLI that can build with BuildKit, and whether it does so through buildx."""
    candidates = [os.environ.get("DOCKER"), shutil.which("docker"), "/usr/bin/docker"]
    seen = []
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and candidate not in seen:
            seen.append(candidate)
    for cli in seen:
        if _run([cli, "buildx", "version"]).returncode == 0:
            return cli, True
    for cli in seen:
        major = _client_major(cli)
        if major is not None and major < 23:  # the classic builder still runs BuildKit
            return cli, False
    return None


def _install() -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise EngineError(
            f"no usable container engine and no way to install one (needs root and apt-get for {APT_PACKAGE})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", APT_PACKAGE]):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env)
        if completed.returncode != 0:
            last = (completed.stderr or completed.stdout).strip().splitlines()[-1:] or ["no output"]
            raise EngineError(f"installing {APT_PACKAGE} failed: {' '.join(command)}: {last[0]}")


def _daemon_answers(cli: str) -> bool:
    try:
        return _run([cli, "info", "--format", "{{.ServerVersion}}"], timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _start_daemon(cli: str) -> subprocess.Popen[bytes]:
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").is_file() else None)
    if dockerd is None:
        raise EngineError("no Docker daemon runs and dockerd is not installed")
    if os.geteuid() != 0:
        raise EngineError("no Docker daemon runs and starting dockerd needs root")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / "dockerd.log"
    with log_path.open("ab") as log:
        daemon = subprocess.Popen(
            [dockerd, "--pidfile", str(STATE_DIR / "dockerd.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while not _daemon_answers(cli):
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            lines = log_path.read_text(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else "no output"
            raise EngineError(f"dockerd did not start (log {log_path}): {reason}")
        time.sleep(0.5)
    return daemon


def ensure_engine() -> Engine:
    """An engine that answers, installing and starting what is missing; raise :class:`EngineError` otherwise."""
    chosen = _choose_cli()
    if chosen is None or (not _daemon_answers(chosen[0]) and shutil.which("dockerd") is None):
        _install()
        chosen = _choose_cli()
    if chosen is None:
        raise EngineError("no Docker CLI here can build with BuildKit (a CLI of Docker 23+ needs the buildx plugin)")
    cli, buildx = chosen
    engine = Engine(cli, buildx, _env={} if buildx else {"DOCKER_BUILDKIT": "1"})
    if not _daemon_answers(cli):
        engine.daemon = _start_daemon(cli)
    return engine


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print("usage: python -m tests.image.engine run -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        engine = ensure_engine()
    except (EngineError, OSError, subprocess.SubprocessError) as error:
        print(f"image-test: no container engine can run here: {error}", file=sys.stderr)
        return 2
    try:
        started = " (dockerd started for this run)" if engine.daemon else ""
        mode = "buildx" if engine.buildx else "classic docker build with BuildKit"
        print(f"image-test: engine {engine.cli}, {mode}{started}", flush=True)
        return subprocess.run(list(argv[2:]), env={**os.environ, "DOCKER": engine.cli}, check=False).returncode
    finally:
        engine.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
