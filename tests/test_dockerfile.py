"""The Dockerfile's promises, checked without a Docker engine.

A small parser (stages, instructions, continuation lines, comments) feeds a policy: no
secret-looking name reaches ARG or ENV; the final stage installs nothing beyond requirements.txt,
copies only the run-time code (``app.py``, ``contract/``, ``runtime/``) and takes only the model
bundle from other stages; the image ends with ``CMD ["app.handler"]``; and nothing needs more than
BuildKit's built-in Dockerfile frontend (no ``# syntax=`` image to pull, no newer-syntax options).
Every rule is shown to fire on a bad Dockerfile, so a green run means something. The
``.dockerignore`` allow-list is checked against what the Dockerfile copies.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL|USERNAME", re.IGNORECASE)
VARIABLE_REFERENCE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
HEREDOC = re.compile(r"<<-?\s*['\"]?[A-Za-z_]")
SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "(", ")"})
PACKAGE_MANAGERS = frozenset({"apt", "apt-get", "aptitude", "dnf", "yum", "microdnf", "apk", "rpm", "zypper"})
PACKAGE_INSTALL_WORDS = frozenset(
    {"install", "add", "reinstall", "localinstall", "groupinstall", "-i", "-U", "--install"}
)
PIP_FLAGS = frozenset(
    {
        "--no-cache-dir",
        "--no-compile",
        "--quiet",
        "-q",
        "--disable-pip-version-check",
        "--upgrade",
        "-U",
        "--require-hashes",
        "--no-deps",
        "--no-warn-script-location",
        "--root-user-action=ignore",
    }
)
PIP_VALUE_OPTIONS = frozenset({"--target", "-t", "--platform", "--python-version", "--implementation", "--only-binary"})
REQUIREMENT_OPTIONS = frozenset({"-r", "--requirement"})
RUNTIME_REQUIREMENTS = "requirements.txt"
# What the handler imports; modelling/, monitoring/ and devtools/ stay out of the image.
RUNTIME_SOURCES = frozenset(
    {
        "src/app.py",
        "src/credit_score/__init__.py",
        "src/credit_score/contract/",
        "src/credit_score/runtime/",
        "data.json",
    }
)  # data.json: the request the pre-traffic hook (runtime/pretraffic.py) sends to a new version
BUNDLE_STAGES = frozenset({"model", "challenger"})  # the champion's bundle and the optional shadow challenger's
SYNTAX_DIRECTIVE = re.compile(r"#\s*syntax\s*=", re.IGNORECASE)
# Options BuildKit's built-in frontend (Docker 20.10) does not parse; each needs a `# syntax=` image.
NEWER_FLAGS = {
    "COPY": frozenset({"--link", "--parents", "--exclude"}),
    "ADD": frozenset({"--link", "--parents", "--exclude", "--checksum", "--keep-git-dir"}),
    "RUN": frozenset({"--network", "--security"}),
}
HANDLER_CMD = ["app.handler"]


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def having(self, keyword: str) -> list[Instruction]:
        return [instruction for instruction in self.instructions if instruction.keyword == keyword]


@dataclass
class Dockerfile:
    global_args: list[Instruction]
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(stage for stage in self.stages if stage.name == name)

    def instructions(self) -> list[Instruction]:
        return [*self.global_args, *(i for stage in self.stages for i in stage.instructions)]


def parse(text: str) -> Dockerfile:
    """Instructions with continuation lines joined and comments dropped (the default ``\\`` escape only)."""
    lines = text.splitlines()
    for line in lines:
        if not line.startswith("#"):
            break
        if re.match(r"#\s*escape\s*=", line, re.IGNORECASE):
            raise ValueError("the escape parser directive is not supported by this checker")
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment and empty lines, also inside a continued instruction
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1] if continued else stripped)
        if continued:
            continue
        keyword, _, args = " ".join(part.strip() for part in pending).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
        pending = []
    if pending:
        raise ValueError(f"line {start}: the last instruction ends with a continuation")
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword in {"RUN", "COPY"} and HEREDOC.search(instruction.args):
            raise ValueError(f"line {instruction.line}: heredocs are not supported by this checker")
        if instruction.keyword == "FROM":
            words = [word for word in instruction.args.split() if not word.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, instruction.line))
        elif stages:
            stages[-1].instructions.append(instruction)
        elif instruction.keyword == "ARG":
            global_args.append(instruction)
        else:
            raise ValueError(f"line {instruction.line}: {instruction.keyword} before the first FROM")
    if not stages:
        raise ValueError("no FROM instruction")
    return Dockerfile(global_args, stages)


def split_flags(args: str) -> tuple[list[str], str]:
    """Leading ``--flag=value`` words (``--mount``, ``--from``…) and the rest of the instruction."""
    flags = []
    rest = args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        flags.append(flag)
        rest = rest.lstrip()
    return flags, rest


def flag_options(flag: str) -> dict[str, str]:
    """``--mount=type=secret,id=X,env=X`` → ``{"type": "secret", "id": "X", "env": "X"}``."""
    _, _, value = flag.partition("=")
    return dict(item.partition("=")[::2] for item in value.split(","))


def declared_names(instruction: Instruction) -> list[str]:
    """Names an ARG or ENV instruction declares (``ENV KEY VALUE`` legacy form included)."""
    words = shlex.split(instruction.args)
    if instruction.keyword == "ENV" and words and "=" not in words[0]:
        return [words[0]]
    return [word.partition("=")[0] for word in words]


def assigned_values(instruction: Instruction) -> list[str]:
    words = shlex.split(instruction.args)
    if instruction.keyword == "ENV" and words and "=" not in words[0]:
        return [" ".join(words[1:])]
    return [word.partition("=")[2] for word in words]


def simple_commands(script: str) -> list[list[str]]:
    """A shell script cut into simple commands at ``&&``, ``||``, ``;``, ``|`` and friends."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in SHELL_OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def _program(command: list[str]) -> list[str]:
    """The command without leading ``VAR=value`` assignments and wrappers such as ``sudo`` or ``env``."""
    words = list(command)
    while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] in {"sudo", "env", "exec"}):
        words.pop(0)
    return words


def pip_install_args(command: list[str]) -> list[str] | None:
    """The arguments after ``pip install`` (any spelling of pip), or ``None`` for other commands."""
    words = _program(command)
    if not words:
        return None
    name = posixpath.basename(words[0])
    if re.fullmatch(r"python[0-9.]*", name) and words[1:3] == ["-m", "pip"]:
        rest = words[3:]
    elif re.fullmatch(r"pip[0-9.]*", name):
        rest = words[1:]
    elif name == "uv" and words[1:2] == ["pip"]:
        rest = words[2:]
    else:
        return None
    return rest[1:] if rest[:1] == ["install"] else None


def pip_install_findings(args: list[str], where: str) -> list[str]:
    findings = []
    requirement_files = []
    position = 0
    while position < len(args):
        word = args[position]
        option, equals, inline = word.partition("=")
        if word.startswith("-r") and len(word) > 2 and not word.startswith("--"):
            requirement_files.append(word[2:])
        elif option in REQUIREMENT_OPTIONS:
            if not equals:
                position += 1
            requirement_files.append(inline if equals else (args[position] if position < len(args) else ""))
        elif option in PIP_VALUE_OPTIONS:
            position += 0 if equals else 1
        elif word in PIP_FLAGS:
            pass
        elif word.startswith("-"):
            findings.append(f"{where}: pip option {option} is not allowed in the final stage")
        else:
            findings.append(f"{where}: pip installs '{word}' beyond requirements.txt in the final stage")
        position += 1
    if not requirement_files:
        findings.append(f"{where}: pip install without -r requirements.txt in the final stage")
    for path in requirement_files:
        if posixpath.basename(path) != RUNTIME_REQUIREMENTS:
            findings.append(f"{where}: the final stage installs {path}, only {RUNTIME_REQUIREMENTS} is allowed")
    return findings


def package_manager_findings(command: list[str], where: str) -> list[str]:
    words = _program(command)
    if words and posixpath.basename(words[0]) in PACKAGE_MANAGERS and PACKAGE_INSTALL_WORDS.intersection(words[1:]):
        return [f"{where}: {posixpath.basename(words[0])} installs system packages in the final stage"]
    return []


def _copy_sources(args: str) -> tuple[list[str], list[str]]:
    flags, rest = split_flags(args)
    words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    return flags, words[:-1]


def secret_findings(dockerfile: Dockerfile) -> list[str]:
    """Secret-looking names declared by ARG/ENV, or secret-looking variables copied into ENV."""
    findings = []
    for instruction in dockerfile.instructions():
        if instruction.keyword not in {"ARG", "ENV"}:
            continue
        where = f"line {instruction.line}"
        for name in declared_names(instruction):
            if SECRET_NAME.search(name):
                findings.append(f"{where}: {instruction.keyword} {name} looks like a secret; use a BuildKit secret")
        for value in assigned_values(instruction):
            for referenced in VARIABLE_REFERENCE.findall(value):
                if SECRET_NAME.search(referenced):
                    findings.append(f"{where}: {instruction.keyword} copies ${referenced} into the image")
    return findings


def final_stage_findings(dockerfile: Dockerfile) -> list[str]:
    """The final stage: run-time requirements only, the bundle from the model stage, the handler CMD."""
    findings = []
    final = dockerfile.final
    for instruction in final.instructions:
        where = f"line {instruction.line}"
        if instruction.keyword == "RUN":
            flags, script = split_flags(instruction.args)
            for flag in flags:
                options = flag_options(flag) if flag.startswith("--mount=") else {}
                if options.get("type") == "secret":
                    findings.append(f"{where}: the final stage mounts a secret")
                source = options.get("source", options.get("src", ""))
                if options.get("type") == "bind" and posixpath.basename(source).startswith("requirements-"):
                    findings.append(f"{where}: the final stage reads {source}")
            commands = json.loads(script) if script.startswith("[") else None
            for command in [commands] if commands else simple_commands(script):
                pip_args = pip_install_args(command)
                if pip_args is not None:
                    findings += pip_install_findings(pip_args, where)
                findings += package_manager_findings(command, where)
        elif instruction.keyword in {"COPY", "ADD"}:
            flags, sources = _copy_sources(instruction.args)
            origin = next((flag.partition("=")[2] for flag in flags if flag.startswith("--from=")), None)
            if origin is not None and origin not in BUNDLE_STAGES:
                findings.append(f"{where}: the final stage copies from '{origin}'; only the model bundles may")
            for source in sources if origin is None else ():
                if re.match(r"(https?|git)://|git@", source):
                    findings.append(f"{where}: the final stage downloads {source}")
                elif source not in RUNTIME_SOURCES:
                    findings.append(f"{where}: the final stage copies {source}; only the run-time code may")
        elif instruction.keyword == "ENTRYPOINT":
            findings.append(f"{where}: the final stage replaces the base image's Lambda entrypoint")
    commands = final.having("CMD")
    if not commands:
        findings.append('the final stage has no CMD; expected CMD ["app.handler"]')
    else:
        last = commands[-1]
        try:
            cmd = json.loads(last.args)
        except ValueError:
            cmd = None
        if cmd != HANDLER_CMD:
            findings.append(f'line {last.line}: the final CMD must be exactly ["app.handler"] (exec form)')
    return findings


def frontend_findings(text: str, dockerfile: Dockerfile) -> list[str]:
    """What only a newer frontend image parses: a build that must pull one fails where registries are closed."""
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("#"):
            break
        if SYNTAX_DIRECTIVE.match(line):
            findings.append(f"line {number}: a syntax directive makes BuildKit pull a frontend image")
    for instruction in dockerfile.instructions():
        flags, _ = split_flags(instruction.args)
        for flag in flags:
            name = flag.partition("=")[0]
            if name in NEWER_FLAGS.get(instruction.keyword, ()):
                findings.append(f"line {instruction.line}: {instruction.keyword} {name} needs a newer frontend")
            if (
                name == "--mount"
                and flag_options(flag).get("type") in {"secret", "ssh"}
                and "env" in flag_options(flag)
            ):
                findings.append(f"line {instruction.line}: a secret mount with env= needs a newer frontend")
    return findings


def policy_findings(text: str) -> list[str]:
    dockerfile = parse(text)
    return secret_findings(dockerfile) + final_stage_findings(dockerfile) + frontend_findings(text, dockerfile)


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """``.dockerignore`` lines as (re-include?, regex) in order; the last matching rule wins."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        regex = ""
        position = 0
        while position < len(pattern):
            if pattern.startswith("**/", position):
                regex, position = regex + "(?:.*/)?", position + 3
            elif pattern.startswith("**", position):
                regex, position = regex + ".*", position + 2
            elif pattern[position] == "*":
                regex, position = regex + "[^/]*", position + 1
            elif pattern[position] == "?":
                regex, position = regex + "[^/]", position + 1
            elif pattern[position] == "[":
                end = pattern.index("]", position)
                regex, position = regex + pattern[position : end + 1], end + 1
            else:
                regex, position = regex + re.escape(pattern[position]), position + 1
        rules.append((include, re.compile(regex)))
    return rules


def sent_to_build(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker sends ``path`` in the build context: rules match the path or any parent of it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    excluded = False
    for include, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not include
    return not excluded


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rules() -> list[tuple[bool, re.Pattern[str]]]:
    return ignore_rules(DOCKERIGNORE.read_text(encoding="utf-8"))


def _resolve(reference: str, dockerfile: Dockerfile) -> str:
    defaults = {}
    for instruction in dockerfile.global_args:
        name, _, value = instruction.args.partition("=")
        defaults[name] = value
    return re.sub(r"\$\{(\w+)\}", lambda match: defaults.get(match.group(1), match.group(0)), reference)


# --- the repository's Dockerfile -------------------------------------------------------------


def test_given_repository_dockerfile_when_policy_checked_then_no_findings() -> None:
    assert policy_findings(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_given_repository_dockerfile_when_parsed_then_final_stage_runs_the_handler_on_lambda_python(
    dockerfile: Dockerfile,
) -> None:
    final = dockerfile.final
    assert final.name == "runtime"
    assert json.loads(final.having("CMD")[-1].args) == HANDLER_CMD
    image = _resolve(final.base, dockerfile)
    repository, _, tag = image.partition(":")
    assert repository == "public.ecr.aws/lambda/python"
    version = re.match(r"(\d+)\.(\d+)", tag)
    assert version is not None, f"base image tag {tag!r} must pin a Python version"
    assert (int(version.group(1)), int(version.group(2))) >= (3, 12)


def test_given_repository_dockerfile_when_parsed_then_model_source_selects_the_model_stage(
    dockerfile: Dockerfile,
) -> None:
    names = [stage.name for stage in dockerfile.stages]
    assert {"build-tools", "model-registry", "model-local", "model", "model-export", "runtime"} <= set(names)
    assert dockerfile.stage("model").base == "model-${MODEL_SOURCE}"
    assert "MODEL_SOURCE=registry" in [instruction.args for instruction in dockerfile.global_args]
    copies = [_copy_sources(i.args)[0] for i in dockerfile.final.having("COPY")]
    assert ["--from=model"] in copies


def test_given_registry_stage_when_parsed_then_credentials_arrive_only_as_secret_mounts(dockerfile: Dockerfile) -> None:
    stage = dockerfile.stage("model-registry")
    downloads = [i for i in stage.having("RUN") if "model_downloader.py" in i.args]
    assert len(downloads) == 1
    flags, _ = split_flags(downloads[0].args)
    secrets = {options["id"]: options for options in map(flag_options, flags) if options.get("type") == "secret"}
    expected = {"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "DAGSHUB_USER_TOKEN"}
    assert set(secrets) == expected
    # files at /run/secrets/<id>, read by the downloader: no env= (newer syntax), no other target
    assert all("env" not in options for options in secrets.values())
    assert all(
        options.get("target", f"/run/secrets/{name}") == f"/run/secrets/{name}" for name, options in secrets.items()
    )
    declared = {name for i in dockerfile.instructions() if i.keyword in {"ARG", "ENV"} for name in declared_names(i)}
    assert declared.isdisjoint(expected)
    assert {"MODEL_NAME", "MODEL_ALIAS", "MODEL_VERSION"} <= {
        name for i in stage.having("ARG") for name in declared_names(i)
    }


def test_given_runtime_stage_when_parsed_then_bundle_is_verified_after_it_is_copied(dockerfile: Dockerfile) -> None:
    instructions = dockerfile.final.instructions
    copy_at = next(n for n, i in enumerate(instructions) if i.keyword == "COPY" and "--from=model" in i.args)
    verify_at = next(n for n, i in enumerate(instructions) if i.keyword == "RUN" and "load_bundle(" in i.args)
    assert verify_at > copy_at
    assert "import app" in instructions[verify_at].args  # the handler's imports resolve in the image


def test_given_runtime_stage_when_parsed_then_it_copies_exactly_the_run_time_code(dockerfile: Dockerfile) -> None:
    sources = set()
    for instruction in dockerfile.final.having("COPY"):
        flags, paths = _copy_sources(instruction.args)
        if not any(flag.startswith("--from=") for flag in flags):
            sources.update(paths)
    assert sources == RUNTIME_SOURCES


def test_given_runtime_stage_when_parsed_then_numpy_gets_one_blas_thread(dockerfile: Dockerfile) -> None:
    """A 1 GB function has less than one vCPU: OpenBLAS's thread pool only lengthens the cold start."""
    settings = {
        name: value
        for i in dockerfile.final.having("ENV")
        for name, value in zip(declared_names(i), assigned_values(i), strict=True)
    }
    assert settings.get("OPENBLAS_NUM_THREADS") == "1"


def test_given_runtime_stage_when_parsed_then_bytecode_is_compiled_after_the_last_code_copy(
    dockerfile: Dockerfile,
) -> None:
    """/var/task is read-only in Lambda: bytecode not compiled into the image is compiled at every cold start."""
    instructions = dockerfile.final.instructions
    compile_at = [n for n, i in enumerate(instructions) if i.keyword == "RUN" and "compileall" in i.args]
    assert len(compile_at) == 1
    assert "--invalidation-mode unchecked-hash" in instructions[compile_at[0]].args
    assert "LAMBDA_TASK_ROOT" in instructions[compile_at[0]].args
    copies = [n for n, i in enumerate(instructions) if i.keyword == "COPY" and "--from=" not in i.args]
    assert compile_at[0] > max(copies)


# --- the checker fires on bad Dockerfiles ------------------------------------------------------

GOOD_FINAL = """\
FROM public.ecr.aws/lambda/python:3.12 AS runtime
RUN pip install --no-cache-dir -r requirements.txt --target "${LAMBDA_TASK_ROOT}"
COPY src/app.py src/credit_score/__init__.py ${LAMBDA_TASK_ROOT}/
COPY src/credit_score/contract/ src/credit_score/runtime/ ${LAMBDA_TASK_ROOT}/credit_score/
COPY --from=model /opt/model/ ${LAMBDA_TASK_ROOT}/model/
CMD ["app.handler"]
"""


def _with_final(*lines: str, cmd: str = 'CMD ["app.handler"]') -> str:
    body = "\n".join(lines)
    return f"FROM public.ecr.aws/lambda/python:3.12 AS runtime\n{body}\n{cmd}\n"


def test_given_minimal_good_dockerfile_when_checked_then_no_findings() -> None:
    assert policy_findings(GOOD_FINAL) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "ARG DAGSHUB_USER_TOKEN\n" + GOOD_FINAL, "DAGSHUB_USER_TOKEN looks like a secret", id="global-arg"
        ),
        pytest.param(
            GOOD_FINAL.replace("CMD", "ENV MLFLOW_TRACKING_PASSWORD=hunter2\nCMD"),
            "MLFLOW_TRACKING_PASSWORD looks like a secret",
            id="env-assignment",
        ),
        pytest.param(
            GOOD_FINAL.replace("CMD", "ENV MLFLOW_TRACKING_USERNAME someone\nCMD"),
            "MLFLOW_TRACKING_USERNAME looks like a secret",
            id="env-legacy-form",
        ),
        pytest.param(
            "FROM python:3.12 AS build\nARG REGISTRY_CREDENTIALS=\nRUN true\n" + GOOD_FINAL,
            "REGISTRY_CREDENTIALS looks like a secret",
            id="arg-in-build-stage",
        ),
        pytest.param(
            GOOD_FINAL.replace("CMD", "ENV TRACKING=${MLFLOW_TRACKING_PASSWORD}\nCMD"),
            "copies $MLFLOW_TRACKING_PASSWORD into the image",
            id="env-copies-secret-variable",
        ),
        pytest.param(
            _with_final("RUN pip install -r requirements-build.txt"), "installs requirements-build.txt", id="build-reqs"
        ),
        pytest.param(
            _with_final("RUN python -m pip install mlflow==3.1"), "installs 'mlflow==3.1'", id="extra-package"
        ),
        pytest.param(
            _with_final("RUN pip install --no-cache-dir \\", "    -r requirements.txt \\", "    scikit-learn"),
            "installs 'scikit-learn'",
            id="package-hidden-on-continuation-line",
        ),
        pytest.param(
            _with_final("RUN pip install -r requirements.txt \\", "# a comment inside the instruction", "    pytest"),
            "installs 'pytest'",
            id="package-after-comment-in-continuation",
        ),
        pytest.param(
            _with_final("RUN echo ready && pip3 install -r requirements.txt -e ."), "pip option -e", id="editable"
        ),
        pytest.param(
            _with_final("RUN pip install --requirement=requirements-dev.txt"), "requirements-dev.txt", id="dev-reqs"
        ),
        pytest.param(_with_final("RUN pip install --upgrade"), "without -r requirements.txt", id="no-requirements"),
        pytest.param(_with_final("COPY requirements-dev.txt /tmp/"), "copies requirements-dev.txt", id="copy-dev-reqs"),
        pytest.param(
            _with_final('COPY ["requirements-build.txt", "/tmp/"]'),
            "copies requirements-build.txt",
            id="copy-json-form",
        ),
        pytest.param(
            _with_final("RUN --mount=type=bind,source=requirements-build.txt,target=/r.txt pip install -r /r.txt"),
            "reads requirements-build.txt",
            id="bind-mount-build-reqs",
        ),
        pytest.param(_with_final("RUN dnf install -y gcc && dnf clean all"), "dnf installs", id="dnf"),
        pytest.param(_with_final("run yum -y install git"), "yum installs", id="lowercase-yum"),
        pytest.param(_with_final("RUN apt-get update; apt-get install -y curl"), "apt-get installs", id="apt"),
        pytest.param(
            _with_final("COPY --from=build-tools /var/lang/lib/python3.12/site-packages /var/task"),
            "copies from 'build-tools'",
            id="copy-build-site-packages",
        ),
        pytest.param(_with_final("ADD https://example.com/tool.tgz /opt/"), "downloads https://", id="add-url"),
        pytest.param(
            _with_final("RUN --mount=type=secret,id=DAGSHUB_USER_TOKEN,env=DAGSHUB_USER_TOKEN true"),
            "mounts a secret",
            id="secret-in-final",
        ),
        pytest.param(
            _with_final('ENTRYPOINT ["python"]'), "replaces the base image's Lambda entrypoint", id="entrypoint"
        ),
        pytest.param(_with_final("COPY src/ /var/task/"), "copies src/; only the run-time code", id="copy-all-src"),
        pytest.param(
            _with_final("COPY src/credit_score/modelling/ /var/task/credit_score/modelling/"),
            "copies src/credit_score/modelling/",
            id="copy-modelling-house",
        ),
        pytest.param(_with_final("COPY model_downloader.py ./"), "copies model_downloader.py", id="copy-downloader"),
        pytest.param("# syntax=docker/dockerfile:1.10\n" + GOOD_FINAL, "pull a frontend image", id="syntax-directive"),
        pytest.param(
            "FROM x AS build\nRUN --mount=type=secret,id=T,env=T true\n" + GOOD_FINAL,
            "secret mount with env= needs a newer frontend",
            id="secret-env-mount",
        ),
        pytest.param(
            GOOD_FINAL.replace("COPY --from=model", "COPY --link --from=model"), "COPY --link needs", id="copy-link"
        ),
        pytest.param(
            "FROM x AS build\nRUN --network=none true\n" + GOOD_FINAL, "RUN --network needs", id="run-network"
        ),
        pytest.param(_with_final("COPY src/ /var/task/", cmd='CMD ["other.handler"]'), "final CMD must be", id="cmd"),
        pytest.param(_with_final("COPY src/ /var/task/", cmd="CMD app.handler"), "final CMD must be", id="cmd-shell"),
        pytest.param(_with_final("COPY src/ /var/task/", cmd=""), "has no CMD", id="cmd-missing"),
        pytest.param(
            GOOD_FINAL + 'FROM public.ecr.aws/lambda/python:3.12 AS debug\nCMD ["app.handler"]\nRUN pip install ipdb\n',
            "installs 'ipdb'",
            id="a-later-stage-is-the-final-one",
        ),
    ],
)
def test_given_bad_dockerfile_when_checked_then_flagged(text: str, expected: str) -> None:
    findings = policy_findings(text)
    assert any(expected in finding for finding in findings), findings


def test_given_build_requirements_in_an_earlier_stage_when_checked_then_not_flagged() -> None:
    text = "FROM python:3.12 AS build\nRUN pip install -r requirements-build.txt mlflow\n" + GOOD_FINAL
    assert policy_findings(text) == []


def test_given_continuations_and_comments_when_parsed_then_instructions_keep_their_first_line() -> None:
    text = 'ARG BASE=x\n\nfrom ${BASE} as one\n# note\nrun a \\\n  # inside\n\n  b\nCMD ["c"]\n'
    parsed = parse(text)
    assert [i.args for i in parsed.global_args] == ["BASE=x"]
    assert (parsed.final.base, parsed.final.name, parsed.final.line) == ("${BASE}", "one", 3)
    assert [(i.line, i.keyword, i.args) for i in parsed.final.instructions] == [(5, "RUN", "a b"), (9, "CMD", '["c"]')]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("# escape=`\nFROM x\n", id="escape-directive"),
        pytest.param("FROM x\nRUN <<EOF\npip install mlflow\nEOF\n", id="heredoc"),
        pytest.param("RUN true\nFROM x\n", id="run-before-from"),
        pytest.param("FROM x\nRUN a \\\n", id="dangling-continuation"),
        pytest.param("ARG A=1\n", id="no-from"),
    ],
)
def test_given_dockerfile_the_checker_cannot_read_when_parsed_then_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse(text)


# --- .dockerignore -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "requirements-build.txt",
        "model_downloader.py",
        "src/app.py",
        "src/credit_score/contract/bundle.py",
        "model/model.onnx",
        "model/metadata.json",
    ],
)
def test_given_build_input_when_matched_against_dockerignore_then_sent(
    path: str, rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
    assert sent_to_build(path, rules)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        "tests/test_dockerfile.py",
        ".mlflow/mlflow.db",
        "capture/2025/01/01/part.jsonl",
        "src/credit_score/__pycache__/bundle.cpython-312.pyc",
        ".pytest_cache/v/cache/nodeids",
        ".env",
        "requirements-dev.txt",
        "benchmarks/results/runtime_size.json",
        "src/model/model.onnx",
    ],
)
def test_given_local_only_file_when_matched_against_dockerignore_then_not_sent(
    path: str, rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
    assert not sent_to_build(path, rules)


def test_given_dockerfile_context_sources_when_matched_then_dockerignore_sends_each(
    dockerfile: Dockerfile, rules: list[tuple[bool, re.Pattern[str]]]
) -> None:
    sources = []
    for stage in dockerfile.stages:
        for instruction in stage.having("COPY"):
            flags, paths = _copy_sources(instruction.args)
            if not any(flag.startswith("--from=") for flag in flags):
                sources += paths
        for instruction in stage.having("RUN"):
            for flag in split_flags(instruction.args)[0]:
                options = flag_options(flag) if flag.startswith("--mount=") else {}
                if options.get("type") == "bind" and "from" not in options:
                    sources.append(options.get("source", options.get("src", "")))
    assert sources
    for source in sources:
        probe = source.rstrip("/") + ("/any.py" if source.endswith("/") else "")
        assert sent_to_build(probe, rules), f"{source} is copied by the Dockerfile but excluded by .dockerignore"


def test_given_dockerignore_rules_when_negated_later_then_last_match_wins() -> None:
    rules = ignore_rules("*\n!src/\nsrc/**/secret.txt\n**/*.pyc\n")
    assert sent_to_build("src/a/b.py", rules)
    assert not sent_to_build("src/a/secret.txt", rules)
    assert not sent_to_build("src/a/b.pyc", rules)
    assert not sent_to_build("docs/readme.md", rules)
