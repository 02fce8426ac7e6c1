"""Delivery files agree with each other and keep their promises, checked offline.

The SAM template (least privilege, no CloudWatch API permission, private TLS-only capture bucket,
throttled API, log retention, alarms), the GitHub workflows (OIDC only, actions pinned to commits,
registry credentials only as build secrets, rollback after a failed smoke test), the IAM policy
documents, and infra/smoke_test.py. Each checker is shown to fire on a broken copy. The three
infrastructure linters run here too, so `make test` fails on their findings.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode_str

from credit_score.runtime import config
from tests.test_dockerfile import declared_names, flag_options, parse, split_flags

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
REVIEW = ROOT / ".github" / "workflows" / "review.yml"
DEPLOY = ROOT / ".github" / "workflows" / "deploy.yml"
TRUST_POLICY = ROOT / "infra" / "github-oidc-trust-policy.json"
DEPLOY_POLICY = ROOT / "infra" / "github-deploy-role-policy.json"
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s+v\d+\.\d+\.\d+\s*$")
CREDENTIAL_SECRETS = {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "DAGSHUB_USER_TOKEN"}
HANDLER_ENV = {value for name, value in vars(config).items() if name.isupper() and value == name}
OIDC_HOST = "token.actions.githubusercontent.com"


# --- loading -----------------------------------------------------------------------------------


def load_template(text: str | None = None) -> dict[str, Any]:
    template, matches = decode_str(TEMPLATE.read_text(encoding="utf-8") if text is None else text)
    assert not matches, matches
    return template


def load_workflow(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps", [])


def using(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(workflow) if step.get("uses", "").split("@")[0] == action]


def lines_of(block: str | None) -> dict[str, str]:
    """``KEY=value`` lines of a build-args or secrets input."""
    pairs = (line.strip().partition("=") for line in (block or "").splitlines() if line.strip())
    return {key: value for key, _, value in pairs}


def branches(value: Any) -> Iterator[Any]:
    """Both outcomes of an ``Fn::If`` (recursively); the value itself otherwise."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parameter_default(template: dict[str, Any], value: Any) -> Any:
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]].get("Default")
    return value


# --- template ----------------------------------------------------------------------------------


def function_findings(template: dict[str, Any]) -> list[str]:
    findings = []
    resources = template["Resources"]
    function = resources["Function"]["Properties"]
    if function.get("PackageType") != "Image" or function.get("ImageUri") != {"Ref": "ImageUri"}:
        findings.append("the function must be PackageType Image with ImageUri from the ImageUri parameter")
    if function.get("Timeout", 3) > 29:
        findings.append("the timeout must stay under the HTTP API's 30 s integration limit")
    log_group_ref = function.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
    log_group = resources.get(log_group_ref, {})
    expected_name = {"Fn::Sub": "/aws/lambda/${FunctionName}"}
    if log_group.get("Type") != "AWS::Logs::LogGroup" or log_group["Properties"].get("LogGroupName") != expected_name:
        findings.append("LoggingConfig must name an explicit log group /aws/lambda/<function name>")
    elif "RetentionInDays" not in log_group["Properties"]:
        findings.append("the function's log group needs a retention")
    if function.get("FunctionName") != {"Ref": "FunctionName"}:
        findings.append("the function name must be the FunctionName parameter its log group is named after")
    unknown = set(function.get("Environment", {}).get("Variables", {})) - HANDLER_ENV
    if unknown:
        findings.append(f"environment variables the handler does not read: {sorted(unknown)}")
    routes = {
        (event["Properties"].get("Method"), event["Properties"].get("Path"))
        for event in function.get("Events", {}).values()
        if event.get("Type") == "HttpApi" and event["Properties"].get("ApiId") == {"Ref": "HttpApi"}
    }
    if not {("POST", "/predict"), ("GET", "/health")} <= routes:
        findings.append("the HTTP API must route POST /predict and GET /health to the function")
    settings = resources["HttpApi"]["Properties"].get("DefaultRouteSettings", {})
    if not {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(settings):
        findings.append("the HTTP API needs default route throttling")
    return findings


def role_findings(template: dict[str, Any]) -> list[str]:
    findings = []
    resources = template["Resources"]
    function = resources["Function"]["Properties"]
    if function.get("Role") != {"Fn::GetAtt": ["FunctionRole", "Arn"]} or "Policies" in function:
        findings.append("the function must use FunctionRole only (no SAM policy templates)")
    role = resources["FunctionRole"]["Properties"]
    if role.get("ManagedPolicyArns"):
        findings.append("FunctionRole must not attach managed policies")
    for policy in role.get("Policies", []):
        for entry in policy["PolicyDocument"]["Statement"]:
            conditional = isinstance(entry, dict) and "Fn::If" in entry
            for statement in branches(entry):
                if statement.get("Effect") != "Allow":
                    continue
                actions = as_list(statement["Action"])
                resource = statement.get("Resource")
                sid = statement.get("Sid", "?")
                if any(action.startswith("cloudwatch:") for action in actions):
                    findings.append(f"{sid}: no CloudWatch API permission; metrics leave as EMF")
                if any("*" in action for action in actions) or resource == "*":
                    findings.append(f"{sid}: wildcard action or resource")
                if any(action.startswith("s3:") for action in actions):
                    prefix_only = {"Fn::Sub": "${CaptureBucket.Arn}/${CapturePrefix}/*"}
                    if actions != ["s3:PutObject"] or resource != prefix_only:
                        findings.append(f"{sid}: S3 access must be s3:PutObject on the capture prefix only")
                firehose = any(action.startswith("firehose:") for action in actions)
                if firehose and (actions != ["firehose:PutRecordBatch"] or not conditional):
                    findings.append(f"{sid}: firehose:PutRecordBatch only, and only when a stream is set")
    return findings


def bucket_findings(template: dict[str, Any]) -> list[str]:
    findings = []
    resources = template["Resources"]
    bucket = resources["CaptureBucket"]["Properties"]
    if not bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"):
        findings.append("the capture bucket must be encrypted")
    block = bucket.get("PublicAccessBlockConfiguration", {})
    if [
        block.get(key) for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    ] != [True] * 4:
        findings.append("the capture bucket must block every kind of public access")
    policies = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::S3::BucketPolicy"]
    denies_plain_http = any(
        statement.get("Effect") == "Deny"
        and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
        and {"Fn::Sub": "${CaptureBucket.Arn}/*"} in as_list(statement.get("Resource"))
        for policy in policies
        if policy.get("Bucket") == {"Ref": "CaptureBucket"}
        for statement in policy["PolicyDocument"]["Statement"]
    )
    if not denies_plain_http:
        findings.append("the capture bucket policy must deny requests without TLS (aws:SecureTransport false)")
    rules = bucket.get("LifecycleConfiguration", {}).get("Rules", [])
    transitions = {(t["StorageClass"], t["TransitionInDays"]) for rule in rules for t in rule.get("Transitions", [])}
    if not {("STANDARD_IA", 30), ("GLACIER_IR", 90)} <= transitions:
        findings.append("captured objects must move to STANDARD_IA after 30 days and GLACIER_IR after 90")
    if not any(isinstance(rule.get("ExpirationInDays"), dict) for rule in rules):
        findings.append("the capture expiry must be a parameter")
    return findings


def alarm_findings(template: dict[str, Any]) -> list[str]:
    alarms = [r["Properties"] for r in template["Resources"].values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    watched = {(a.get("Namespace"), a.get("MetricName"), a.get("ExtendedStatistic")) for a in alarms}
    findings = []
    for namespace, metric in (("AWS/Lambda", "Errors"), ("AWS/ApiGateway", "5xx")):
        if not any(entry[:2] == (namespace, metric) for entry in watched):
            findings.append(f"no alarm on {namespace} {metric}")
    if ("AWS/Lambda", "Duration", "p99") not in watched:
        findings.append("no alarm on p99 latency")
    queries = [
        query["Expression"]["Fn::Sub"]
        for alarm in alarms
        for query in alarm.get("Metrics", [])
        if isinstance(query.get("Expression"), dict)
    ]
    capture = [q for q in queries if "SUM(CaptureFailures)" in q]
    namespace = parameter_default(template, {"Ref": "MetricsNamespace"})
    service = parameter_default(template, {"Ref": "ServiceName"})
    if not capture or not all(
        'SCHEMA("${MetricsNamespace}", service, model_version)' in q and "service = '${ServiceName}'" in q
        for q in capture
    ):
        findings.append("no CaptureFailures alarm over the handler's (service, model_version) dimensions")
    if (namespace, service) != (config.Settings.metrics_namespace, config.Settings.service_name):
        findings.append("the template's metric namespace and service must default to the handler's")
    return findings


def log_findings(template: dict[str, Any]) -> list[str]:
    """Every log group: a retention and the optional KMS key; the batch bound the handler enforces."""
    findings = []
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Logs::LogGroup":
            continue
        properties = resource["Properties"]
        if not isinstance(properties.get("RetentionInDays"), dict):
            findings.append(f"{name}: the log group needs the retention parameter")
        if properties.get("KmsKeyId") != {"Fn::If": ["HasLogKmsKey", {"Ref": "LogKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}:
            findings.append(f"{name}: the log group needs the optional LogKmsKeyArn key")
    batch = template["Parameters"]["MaxBatchSize"]
    if batch.get("MaxValue") != config.MAX_BATCH_LIMIT or batch.get("Default", 0) > config.MAX_BATCH_LIMIT:
        findings.append(f"MaxBatchSize must be bounded by the response limit: MaxValue {config.MAX_BATCH_LIMIT}")
    return findings


def template_findings(template: dict[str, Any]) -> list[str]:
    return (
        function_findings(template)
        + role_findings(template)
        + bucket_findings(template)
        + alarm_findings(template)
        + log_findings(template)
    )


# --- workflows ---------------------------------------------------------------------------------


def pinning_findings(text: str) -> list[str]:
    return [
        f"line {number}: actions must be pinned to a full commit SHA with a '# vX.Y.Z' comment"
        for number, line in enumerate(text.splitlines(), start=1)
        if re.match(r"^\s*(?:-\s+)?uses:", line) and not PINNED_USES.match(line)
    ]


def build_findings(workflow: dict[str, Any], template: dict[str, Any]) -> list[str]:
    """Every image build matches the Dockerfile's args and secrets and the function's architecture."""
    dockerfile = parse((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    args = {name for i in dockerfile.instructions() if i.keyword == "ARG" for name in declared_names(i)}
    mounts = {
        options.get("id")
        for i in dockerfile.instructions()
        if i.keyword == "RUN"
        for options in map(flag_options, split_flags(i.args)[0])
        if options.get("type") == "secret"
    }
    platform = PLATFORMS[template["Resources"]["Function"]["Properties"]["Architectures"][0]]
    findings = []
    for step in using(workflow, "docker/build-push-action"):
        name = step.get("name", "build")
        inputs = step.get("with", {})
        if inputs.get("platforms") != platform:
            findings.append(f"{name}: platforms must be {platform}, the function's architecture")
        build_args = lines_of(inputs.get("build-args"))
        if set(build_args) - args:
            findings.append(f"{name}: build args the Dockerfile does not declare: {sorted(set(build_args) - args)}")
        if any("secrets." in value for value in build_args.values()):
            findings.append(f"{name}: a secret is passed as a build arg")
        secrets = lines_of(inputs.get("secrets"))
        if set(secrets) - mounts:
            findings.append(f"{name}: secrets the Dockerfile never mounts: {sorted(set(secrets) - mounts)}")
        if inputs.get("push") is True and inputs.get("provenance") is not False:
            findings.append(f"{name}: pushed images need provenance: false (Lambda refuses image indexes)")
    return findings


def deploy_findings(workflow: dict[str, Any]) -> list[str]:
    findings = []
    triggers = workflow["on"]
    push = triggers.get("push", {})
    needed_paths = {"src/**", "requirements*.txt", "Dockerfile", "model_downloader.py", "infra/**", "data.json"}
    if push.get("branches") != ["main"] or not needed_paths <= set(push.get("paths", [])):
        findings.append("deploy must run on pushes to main touching the image's inputs")
    if not {"model_alias", "model_version"} <= set(triggers.get("workflow_dispatch", {}).get("inputs", {})):
        findings.append("workflow_dispatch needs model_alias and model_version inputs")
    if triggers.get("repository_dispatch", {}).get("types") != ["model-promoted"]:
        findings.append("repository_dispatch must listen to model-promoted")
    if workflow.get("permissions") != {"contents": "read", "id-token": "write"}:
        findings.append("permissions must be contents: read and id-token: write (OIDC)")
    concurrency = workflow.get("concurrency", {})
    if not concurrency.get("group") or concurrency.get("cancel-in-progress") is not False:
        findings.append("one deploy at a time, never cancelled half-way")
    text = json.dumps(workflow)
    if "aws-access-key-id" in text or "aws-secret-access-key" in text:
        findings.append("long-lived AWS keys: use role-to-assume (OIDC)")
    credentials = using(workflow, "aws-actions/configure-aws-credentials")
    if not credentials or not all("role-to-assume" in step.get("with", {}) for step in credentials):
        findings.append("AWS credentials must come from configure-aws-credentials with role-to-assume")
    if not using(workflow, "aws-actions/amazon-ecr-login"):
        findings.append("no ECR login")
    builds = using(workflow, "docker/build-push-action")
    model_builds = [s["with"] for s in builds if s["with"].get("target") == "model-export"]
    if not model_builds or not all(
        str(b.get("outputs", "")).startswith("type=local")
        and "model-registry" in str(b.get("no-cache-filters", ""))
        and set(lines_of(b.get("secrets"))) >= CREDENTIAL_SECRETS
        for b in model_builds
    ):
        findings.append("the model stage must be exported with the registry secrets and never cached")
    pushed = [s["with"] for s in builds if s["with"].get("push") is True]
    if not pushed or not all(
        "${{ github.sha }}" in b.get("tags", "") and "model-${{ steps.bundle.outputs.version }}" in b.get("tags", "")
        for b in pushed
    ):
        findings.append("the image must be tagged with the commit and model-<version>")
    runs = {step.get("id", step.get("name")): step.get("run", "") for step in steps(workflow) if "run" in step}
    script = "\n".join(runs.values())
    for needed in ("sam deploy", "aws lambda invoke", "infra/smoke_test.py"):
        if needed not in script:
            findings.append(f"the deploy never runs `{needed}`")
    if "update-function-code" in script:
        findings.append("the function's code changes only through the template (sam deploy), never beside it")
    if re.search(r"\$\{\{\s*(github\.event|inputs)\.", script):
        findings.append("event data or inputs expanded inside a run script (pass them through env)")
    return findings


def review_findings(workflow: dict[str, Any]) -> list[str]:
    findings = []
    if "pull_request" not in workflow["on"]:
        findings.append("review must run on pull requests")
    script = "\n".join(step.get("run", "") for step in steps(workflow))
    linters = ("actionlint", "hadolint Dockerfile", "cfn-lint infra/template.yaml")
    needed = ("make lint", "make test", *(() if "make lint-infra" in script else linters))
    findings += [f"review never runs `{command}`" for command in needed if command not in script]
    builds = [step["with"] for step in using(workflow, "docker/build-push-action")]
    if not builds or any(b.get("push") is not False for b in builds):
        findings.append("review builds the image without pushing it")
    if not all(lines_of(b.get("build-args")).get("MODEL_SOURCE") == "local" for b in builds):
        findings.append("review builds around the model trained in the job (MODEL_SOURCE=local)")
    if "make demo" not in script:
        findings.append("review must train and download a model before building")
    return findings


# --- IAM documents -----------------------------------------------------------------------------


def trust_policy_findings(document: dict[str, Any]) -> list[str]:
    findings = []
    for statement in document["Statement"]:
        federated = statement.get("Principal", {}).get("Federated", "")
        if not federated.endswith(f":oidc-provider/{OIDC_HOST}"):
            findings.append("the role must trust GitHub's OIDC provider only")
        if statement.get("Action") != "sts:AssumeRoleWithWebIdentity":
            findings.append("the only action is sts:AssumeRoleWithWebIdentity")
        condition = statement.get("Condition", {})
        if set(condition) != {"StringEquals"}:
            findings.append("conditions must be exact (StringEquals): no wildcard subjects")
        equals = condition.get("StringEquals", {})
        if equals.get(f"{OIDC_HOST}:aud") != "sts.amazonaws.com":
            findings.append("the audience must be sts.amazonaws.com")
        subjects = set(as_list(equals.get(f"{OIDC_HOST}:sub", [])))
        if subjects != {"repo:OWNER/REPO:ref:refs/heads/main", "repo:OWNER/REPO:environment:production"}:
            findings.append("subjects must be the main branch and the production environment of the repository")
    return findings


def deploy_policy_findings(document: dict[str, Any]) -> list[str]:
    """The deploy role's shape; ``tests/test_deploy.py`` diffs its actions against what the workflow calls."""
    findings = []
    for statement in document["Statement"]:
        actions = set(as_list(statement["Action"]))
        resources = set(as_list(statement["Resource"]))
        sid = statement.get("Sid")
        if any(action.endswith("*") for action in actions):
            findings.append(f"{sid}: wildcard action")
        if "*" in resources and actions != {"ecr:GetAuthorizationToken"}:
            findings.append(f"{sid}: only ecr:GetAuthorizationToken may apply to every resource")
        if any(a.startswith("lambda:") for a in actions) and resources != {
            "arn:aws:lambda:REGION:ACCOUNT_ID:function:FUNCTION_NAME:live"
        }:
            findings.append("lambda permissions must name the one function's live alias")
        if any(a.startswith("ecr:") and a != "ecr:GetAuthorizationToken" for a in actions) and resources != {
            "arn:aws:ecr:REGION:ACCOUNT_ID:repository/ECR_REPOSITORY"
        }:
            findings.append("ECR push permissions must name the one repository")
        if any(a.startswith("cloudformation:") for a in actions) and not resources <= {
            "arn:aws:cloudformation:REGION:ACCOUNT_ID:stack/STACK_NAME/*",
            "arn:aws:cloudformation:REGION:aws:transform/Serverless-2016-10-31",
        }:
            findings.append(f"{sid}: CloudFormation permissions must name the one stack (and the SAM transform)")
        if any(a.startswith("iam:") for a in actions) and (
            actions != {"iam:PassRole"}
            or resources != {"arn:aws:iam::ACCOUNT_ID:role/CLOUDFORMATION_ROLE_NAME"}
            or statement.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")
            != "cloudformation.amazonaws.com"
        ):
            findings.append(f"{sid}: the only IAM action is passing the CloudFormation role to CloudFormation")
        if any(a.startswith("s3:") for a in actions):
            findings.append(f"{sid}: the deploy reads and writes no bucket")
    return findings


# --- the repository's files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_given_repository_template_when_checked_then_no_findings(template: dict[str, Any]) -> None:
    assert template_findings(template) == []


def test_given_repository_workflows_when_checked_then_no_findings(template: dict[str, Any]) -> None:
    deploy, review = load_workflow(DEPLOY), load_workflow(REVIEW)
    assert deploy_findings(deploy) == []
    assert review_findings(review) == []
    assert build_findings(deploy, template) + build_findings(review, template) == []
    for path in (DEPLOY, REVIEW):
        assert pinning_findings(path.read_text(encoding="utf-8")) == []


def test_given_repository_iam_documents_when_checked_then_no_findings() -> None:
    assert trust_policy_findings(json.loads(TRUST_POLICY.read_text(encoding="utf-8"))) == []
    assert deploy_policy_findings(json.loads(DEPLOY_POLICY.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        pytest.param("actionlint", [], id="actionlint"),
        pytest.param("hadolint", ["Dockerfile"], id="hadolint"),
        pytest.param("cfn-lint", ["infra/template.yaml"], id="cfn-lint"),
    ],
)
def test_given_repository_when_infrastructure_linter_runs_then_no_findings(tool: str, arguments: list[str]) -> None:
    binary = Path(sys.executable).parent / tool
    if not binary.is_file():
        pytest.skip(f"{tool} is not installed next to this interpreter (requirements-dev.txt installs it)")
    completed = subprocess.run([str(binary), *arguments], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


# --- every checker fires on a broken copy -----------------------------------------------------


def _statements(template: dict[str, Any]) -> list[Any]:
    return template["Resources"]["FunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def _put_metric_data(t: dict[str, Any]) -> None:
    _statements(t).append({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"})


def _whole_bucket(t: dict[str, Any]) -> None:
    for entry in _statements(t):
        for statement in branches(entry):
            if statement.get("Sid") == "CaptureToS3Prefix":
                statement["Resource"] = {"Fn::Sub": "${CaptureBucket.Arn}/*"}


def _unconditional_firehose(t: dict[str, Any]) -> None:
    _statements(t).append({"Effect": "Allow", "Action": "firehose:PutRecordBatch", "Resource": "arn:stream"})


def _no_tls_deny(t: dict[str, Any]) -> None:
    t["Resources"]["CaptureBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] = []


def _public_bucket(t: dict[str, Any]) -> None:
    t["Resources"]["CaptureBucket"]["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] = False


def _fixed_expiry(t: dict[str, Any]) -> None:
    for rule in t["Resources"]["CaptureBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]:
        if "ExpirationInDays" in rule:
            rule["ExpirationInDays"] = 400


def _unknown_variable(t: dict[str, Any]) -> None:
    t["Resources"]["Function"]["Properties"]["Environment"]["Variables"]["MODEL_PATH"] = "/opt/model"


def _no_throttling(t: dict[str, Any]) -> None:
    del t["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]


def _no_retention(t: dict[str, Any]) -> None:
    del t["Resources"]["FunctionLogGroup"]["Properties"]["RetentionInDays"]


def _unencryptable_access_log(t: dict[str, Any]) -> None:
    del t["Resources"]["ApiAccessLogGroup"]["Properties"]["KmsKeyId"]


def _access_log_kept_forever(t: dict[str, Any]) -> None:
    del t["Resources"]["ApiAccessLogGroup"]["Properties"]["RetentionInDays"]


def _unbounded_batch(t: dict[str, Any]) -> None:
    del t["Parameters"]["MaxBatchSize"]["MaxValue"]


def _long_timeout(t: dict[str, Any]) -> None:
    t["Resources"]["Function"]["Properties"]["Timeout"] = 60


def _capture_alarm_on_service_only(t: dict[str, Any]) -> None:
    alarm = t["Resources"]["CaptureFailuresAlarm"]["Properties"]
    alarm["Metrics"][0]["Expression"] = {
        "Fn::Sub": 'SELECT SUM(CaptureFailures) FROM SCHEMA("${MetricsNamespace}", service)'
    }


def _no_health_route(t: dict[str, Any]) -> None:
    del t["Resources"]["Function"]["Properties"]["Events"]["Health"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(_put_metric_data, "no CloudWatch API permission", id="cloudwatch-permission"),
        pytest.param(_whole_bucket, "s3:PutObject on the capture prefix only", id="whole-bucket"),
        pytest.param(_unconditional_firehose, "only when a stream is set", id="unconditional-firehose"),
        pytest.param(_no_tls_deny, "deny requests without TLS", id="no-tls-deny"),
        pytest.param(_public_bucket, "block every kind of public access", id="public-bucket"),
        pytest.param(_fixed_expiry, "expiry must be a parameter", id="fixed-expiry"),
        pytest.param(_unknown_variable, "MODEL_PATH", id="unknown-env-var"),
        pytest.param(_no_throttling, "throttling", id="no-throttling"),
        pytest.param(_no_retention, "retention", id="no-log-retention"),
        pytest.param(_access_log_kept_forever, "ApiAccessLogGroup: the log group needs the retention", id="access-log"),
        pytest.param(_unencryptable_access_log, "LogKmsKeyArn", id="log-kms-key"),
        pytest.param(_unbounded_batch, "MaxBatchSize must be bounded", id="unbounded-batch"),
        pytest.param(_long_timeout, "30 s integration limit", id="timeout"),
        pytest.param(_capture_alarm_on_service_only, "CaptureFailures alarm", id="capture-alarm-dimensions"),
        pytest.param(_no_health_route, "GET /health", id="no-health-route"),
    ],
)
def test_given_broken_template_when_checked_then_flagged(template: dict[str, Any], mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(template)
    mutate(broken)
    findings = template_findings(broken)
    assert any(expected in finding for finding in findings), findings


def test_given_arm64_function_and_amd64_builds_when_checked_then_flagged(template: dict[str, Any]) -> None:
    broken = copy.deepcopy(template)
    broken["Resources"]["Function"]["Properties"]["Architectures"] = ["arm64"]
    findings = build_findings(load_workflow(DEPLOY), broken)
    assert any("platforms must be linux/arm64" in finding for finding in findings), findings


def _deploy_step(workflow: dict[str, Any], predicate: Any) -> dict[str, Any]:
    return next(step for step in steps(workflow) if predicate(step))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda w: w["permissions"].pop("id-token"), "id-token: write", id="no-oidc"),
        pytest.param(
            lambda w: using(w, "aws-actions/configure-aws-credentials")[0]["with"].update(
                {"aws-access-key-id": "${{ secrets.AWS_ACCESS_KEY_ID }}"}
            ),
            "long-lived AWS keys",
            id="static-keys",
        ),
        pytest.param(
            lambda w: w["concurrency"].update({"cancel-in-progress": True}), "never cancelled", id="cancellable"
        ),
        pytest.param(
            lambda w: _deploy_step(w, lambda s: s.get("id") == "deploy").update(
                {"run": 'sam deploy --parameter-overrides "ImageUri=${{ github.event.client_payload.image }}"'}
            ),
            "expanded inside a run script",
            id="script-injection",
        ),
        pytest.param(
            lambda w: _deploy_step(w, lambda s: s.get("id") == "deploy").update(
                {"run": 'aws lambda update-function-code --image-uri "$IMAGE_URI"'}
            ),
            "only through the template",
            id="code-beside-the-template",
        ),
        pytest.param(
            lambda w: _deploy_step(w, lambda s: s.get("with", {}).get("target") == "model-export")["with"].pop(
                "no-cache-filters"
            ),
            "never cached",
            id="model-download-cached",
        ),
        pytest.param(lambda w: w["on"].pop("repository_dispatch"), "model-promoted", id="no-dispatch"),
    ],
)
def test_given_broken_deploy_workflow_when_checked_then_flagged(mutate: Any, expected: str) -> None:
    workflow = load_workflow(DEPLOY)
    mutate(workflow)
    findings = deploy_findings(workflow)
    assert any(expected in finding for finding in findings), findings


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda step: step["with"].update(
                {"build-args": "MODEL_SOURCE=local\nTOKEN=${{ secrets.DAGSHUB_USER_TOKEN }}"}
            ),
            "passed as a build arg",
            id="secret-as-build-arg",
        ),
        pytest.param(
            lambda step: step["with"].update({"build-args": "MODEL_SOURCE=local\nMODEL_STAGE=prod"}),
            "does not declare",
            id="unknown-build-arg",
        ),
        pytest.param(
            lambda step: step["with"].update({"secrets": "AWS_SECRET=${{ secrets.AWS_SECRET }}"}),
            "never mounts",
            id="unknown-secret",
        ),
        pytest.param(lambda step: step["with"].update({"provenance": True}), "provenance: false", id="provenance"),
    ],
)
def test_given_broken_image_build_when_checked_then_flagged(
    template: dict[str, Any], mutate: Any, expected: str
) -> None:
    workflow = load_workflow(DEPLOY)
    mutate(_deploy_step(workflow, lambda s: s.get("with", {}).get("push") is True))
    findings = build_findings(workflow, template)
    assert any(expected in finding for finding in findings), findings


def test_given_review_workflow_pushing_when_checked_then_flagged() -> None:
    workflow = load_workflow(REVIEW)
    using(workflow, "docker/build-push-action")[0]["with"]["push"] = True
    assert any("without pushing" in finding for finding in review_findings(workflow))


def test_given_review_workflow_without_hadolint_when_checked_then_flagged() -> None:
    workflow = load_workflow(REVIEW)
    for step in steps(workflow):
        step["run"] = step.get("run", "").replace("hadolint Dockerfile", "true")
    assert any("hadolint Dockerfile" in finding for finding in review_findings(workflow))


@pytest.mark.parametrize(
    "line",
    [
        "      - uses: actions/checkout@v4",
        "        uses: docker/build-push-action@v6.18.0",
        "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
        "      - uses: actions/checkout@main # v4.2.2",
    ],
)
def test_given_unpinned_action_when_checked_then_flagged(line: str) -> None:
    assert pinning_findings(f"steps:\n{line}\n") != []


def test_given_wildcard_oidc_subject_when_checked_then_flagged() -> None:
    document = json.loads(TRUST_POLICY.read_text(encoding="utf-8"))
    condition = document["Statement"][0]["Condition"]
    condition["StringLike"] = {f"{OIDC_HOST}:sub": "repo:OWNER/*"}
    assert any("no wildcard subjects" in finding for finding in trust_policy_findings(document))


def test_given_broad_deploy_policy_when_checked_then_flagged() -> None:
    document = json.loads(DEPLOY_POLICY.read_text(encoding="utf-8"))
    document["Statement"][2]["Action"] = "lambda:*"
    document["Statement"][2]["Resource"] = "*"
    findings = deploy_policy_findings(document)
    assert any("wildcard action" in finding for finding in findings), findings
    assert any("name the one function" in finding for finding in findings), findings


# --- infra/smoke_test.py -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke() -> Any:
    spec = importlib.util.spec_from_file_location("smoke_test", ROOT / "infra" / "smoke_test.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _answer(status: int = 200, **body: Any) -> dict[str, Any]:
    document = {"prediction": 1, "label": "Standard", "version": "7", "model": "credit-score-classifier", **body}
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(document)}


def _run(smoke: Any, tmp_path: Path, response: Any, invoke: Any = None, version: str = "7") -> int:
    response_path = tmp_path / "response.json"
    response_path.write_text(response if isinstance(response, str) else json.dumps(response), encoding="utf-8")
    argv = [str(response_path), "--expect-version", version]
    if invoke is not None:
        (tmp_path / "invoke.json").write_text(json.dumps(invoke), encoding="utf-8")
        argv += ["--invoke-result", str(tmp_path / "invoke.json")]
    return smoke.main(argv)


def test_given_prediction_of_expected_version_when_smoke_tested_then_passes(
    smoke: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(smoke, tmp_path, _answer(), {"StatusCode": 200, "ExecutedVersion": "$LATEST"}) == 0
    assert "version 7" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("response", "invoke", "expected"),
    [
        pytest.param(_answer(version="6"), None, "model version 6 answered, expected 7", id="old-model"),
        pytest.param(_answer(status=500, error="model_unavailable"), None, "statusCode 500", id="server-error"),
        pytest.param(_answer(prediction=3), None, "prediction must be one of", id="bad-prediction"),
        pytest.param(
            {"errorMessage": "boom"}, {"StatusCode": 200, "FunctionError": "Unhandled"}, "FunctionError", id="crash"
        ),
        pytest.param({"statusCode": 200, "body": "<html>"}, None, "not JSON", id="body-not-json"),
        pytest.param("not json at all", None, "no readable JSON", id="response-not-json"),
    ],
)
def test_given_bad_answer_when_smoke_tested_then_fails_with_reason(
    smoke: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], response: Any, invoke: Any, expected: str
) -> None:
    assert _run(smoke, tmp_path, response, invoke) == 1
    assert expected in capsys.readouterr().err


def test_given_no_response_file_when_smoke_tested_then_fails(smoke: Any, tmp_path: Path) -> None:
    assert smoke.main([str(tmp_path / "missing.json"), "--expect-version", "7"]) == 1
