"""Build the stand-in Lambda base and the image, run the image as Lambda does, read its layers.

The stand-in base (``tests/image/standin/``) replaces ``public.ecr.aws/lambda/python``, which CI
cannot pull: a Debian root file system made by ``debootstrap`` from this machine's apt mirror,
imported once and kept (``credit-score-standin-rootfs:<suite>-<packages hash>``), then Debian's Python, AWS's
``awslambdaric`` from PyPI and the AWS base's layout. Only that base build gets the host network
and this machine's extra CA certificates; the image under test is built from the repository's
Dockerfile with ``MODEL_SOURCE`` and nothing else added.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.image import audit
from tests.image.engine import Engine
from tests.support.paths import ROOT

STANDIN_DIR = Path(__file__).resolve().parent / "standin"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
STANDIN_IMAGE = "credit-score-standin:python3"
IMAGE = "credit-score:image-test"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Lambda's sandbox user (sbx_user1051) and the environment Lambda gives a Python 3.12 function.
LAMBDA_USER = "993:990"
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "credit-score",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/credit-score",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]00000000000000000000000000000000",
    "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "_HANDLER": "app.handler",
}


def apt_mirror() -> tuple[str, str]:
    """This machine's Debian mirror and release, from its apt sources and os-release."""
    suite = "bookworm"
    os_release = Path("/etc/os-release")
    if os_release.is_file():
        match = re.search(r"^VERSION_CODENAME=(\w+)", os_release.read_text(), re.MULTILINE)
        suite = match.group(1) if match else suite
    sources = [*sorted(Path("/etc/apt").glob("sources.list.d/*.sources")), Path("/etc/apt/sources.list")]
    for source in sources:
        text = source.read_text(errors="replace") if source.is_file() else ""
        match = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.MULTILINE) or re.search(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+\S+", text, re.MULTILINE
        )
        if match:
            return match.group(1), suite
    return DEFAULT_MIRROR, suite


def _image_exists(engine: Engine, reference: str) -> bool:
    return engine.docker("image", "inspect", reference, check=False).returncode == 0


def _checked(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{' '.join(command[:2])} failed (exit {completed.returncode}): " + " | ".join(tail))


# Python for the runtime client; libgomp1 as the AWS base has it after the Dockerfile's build-tools step
# (LightGBM's wheel links the system OpenMP library).
ROOTFS_PACKAGES = ("python3", "python3-venv", "ca-certificates", "libgomp1")


def build_rootfs(engine: Engine) -> str:
    """A Debian root file system with Python as an image, made once per machine with debootstrap."""
    mirror, suite = apt_mirror()
    packages = ",".join(ROOTFS_PACKAGES)
    reference = f"credit-score-standin-rootfs:{suite}-{hashlib.sha256(packages.encode()).hexdigest()[:8]}"
    if _image_exists(engine, reference):
        return reference
    if shutil.which("debootstrap") is None:
        _checked(["apt-get", "install", "-y", "-qq", "debootstrap"])
    with tempfile.TemporaryDirectory(prefix="standin-rootfs-", dir="/var/tmp") as work:
        rootfs = Path(work) / "rootfs"
        command = ["debootstrap", "--variant=minbase", f"--include={packages}"]
        _checked([*command, suite, str(rootfs), mirror])
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        packer = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        importer = subprocess.run(
            [engine.cli, "import", "-", reference], stdin=packer.stdout, capture_output=True, check=False
        )
        packer.wait()
        if importer.returncode != 0 or packer.returncode != 0:
            raise RuntimeError(f"importing the root file system failed: {importer.stderr.decode()[-500:]}")
    return reference


def build_standin(engine: Engine) -> str:
    """The stand-in Lambda base (cached by the engine); the only build with host network and extra CAs."""
    rootfs = build_rootfs(engine)
    with tempfile.TemporaryDirectory(prefix="standin-context-") as work:
        context = Path(work)
        for name in ("Dockerfile", "lambda-entrypoint.sh"):
            shutil.copy2(STANDIN_DIR / name, context / name)
        certificates = context / "ca-certificates"
        certificates.mkdir()
        for certificate in sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []:
            shutil.copy2(certificate, certificates / certificate.name)
        engine.docker(
            *engine.build_command(),
            "--network",
            "host",
            "--build-arg",
            f"ROOTFS_IMAGE={rootfs}",
            "-t",
            STANDIN_IMAGE,
            str(context),
            timeout=900,
        )
    return STANDIN_IMAGE


def build_image(
    engine: Engine,
    *,
    tag: str = IMAGE,
    context: Path = ROOT,
    build_args: Mapping[str, str] | None = None,
    secrets: Mapping[str, Path] | None = None,
    base: str = STANDIN_IMAGE,
    network: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``docker build`` of the repository's Dockerfile FROM the stand-in; raises on failure with the log tail.

    ``network="host"`` only to reach a registry served on this machine's loopback.
    """
    args = [*engine.build_command(), "--progress", "plain", "--build-arg", f"LAMBDA_BASE_IMAGE={base}"]
    args += ["--network", network] if network else []
    for key, value in {"MODEL_SOURCE": "local", **(build_args or {})}.items():
        args += ["--build-arg", f"{key}={value}"]
    for name, path in (secrets or {}).items():
        args += ["--secret", f"id={name},src={path}"]
    return engine.docker(*args, "-t", tag, str(context), timeout=1200)


@dataclass
class Container:
    engine: Engine
    name: str
    started_at: float

    def logs(self) -> tuple[str, str]:
        completed = self.engine.docker("logs", self.name, check=False)
        return completed.stdout, completed.stderr

    def state(self) -> dict[str, Any]:
        return json.loads(self.engine.docker("inspect", "--format", "{{json .State}}", self.name).stdout)


@contextmanager
def lambda_container(
    engine: Engine, image: str, runtime_api: str, *, env: Mapping[str, str] | None = None
) -> Iterator[Container]:
    """The image run as Lambda runs it: read-only root, tmpfs /tmp, sandbox user, Lambda's variables."""
    name = f"credit-score-test-{uuid.uuid4().hex[:12]}"
    args = ["run", "--detach", "--name", name, "--network", "host", "--read-only"]
    args += ["--tmpfs", "/tmp:rw,nosuid,size=512m", "--user", LAMBDA_USER, "--cap-drop", "ALL"]
    args += ["--security-opt", "no-new-privileges"]
    for key, value in {**LAMBDA_ENV, "AWS_LAMBDA_RUNTIME_API": runtime_api, **(env or {})}.items():
        args += ["--env", f"{key}={value}"]
    started_at = time.monotonic()
    engine.docker(*args, image)
    try:
        yield Container(engine, name, started_at)
    finally:
        engine.docker("rm", "--force", name, check=False)


# --- what the image is made of ------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    diff_id: str
    size: int  # bytes of the uncompressed layer tar
    files: dict[str, int]  # path -> size, regular files only
    directories: frozenset[str]
    created_by: str


@dataclass(frozen=True)
class SavedImage:
    config: dict[str, Any]
    layers: list[Layer]
    base_layer_count: int
    history: list[dict[str, Any]]
    found: list[str]  # content findings in the image's own layers and its config

    @property
    def added(self) -> list[Layer]:
        return self.layers[self.base_layer_count :]


def save_image(engine: Engine, image: str, base: str, workdir: Path, *, secrets: Iterable[bytes] = ()) -> SavedImage:
    """``docker save`` read back: each layer's files, the config and its history.

    Every file of the image's own layers (those above ``base``) and the config are read and
    checked by :func:`audit.content_findings` (private keys, the given secret values).
    """
    archive = workdir / "image.tar"
    engine.docker("save", "--output", str(archive), image, timeout=600)
    base_layers = json.loads(engine.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", base).stdout)
    needles = list(secrets)
    found: list[str] = []
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        config_bytes = outer.extractfile(manifest["Config"]).read()  # type: ignore[union-attr]
        config = json.loads(config_bytes)
        diff_ids = config["rootfs"]["diff_ids"]
        if diff_ids[: len(base_layers)] != base_layers:
            raise AssertionError(f"{image} does not start with the layers of {base}")
        history = [entry for entry in config.get("history", []) if not entry.get("empty_layer")]
        layers = []
        for index, (path, diff_id) in enumerate(zip(manifest["Layers"], diff_ids, strict=True)):
            member = outer.getmember(path)
            files: dict[str, int] = {}
            directories: set[str] = set()
            own = index >= len(base_layers)
            with tarfile.open(fileobj=outer.extractfile(member)) as layer_tar:
                for entry in layer_tar:
                    name = entry.name.removeprefix("./").lstrip("/")
                    if entry.isdir():
                        directories.add(name.rstrip("/"))
                        continue
                    files[name] = entry.size
                    if own and entry.isfile():
                        data = layer_tar.extractfile(entry).read()  # type: ignore[union-attr]
                        found += audit.content_findings(f"layer {index} {name}", data, needles)
            created_by = history[index].get("created_by", "") if index < len(history) else ""
            layers.append(Layer(diff_id, member.size, files, frozenset(directories), created_by))
    found += audit.content_findings("image config", config_bytes, needles)
    return SavedImage(config, layers, len(base_layers), history, found)
