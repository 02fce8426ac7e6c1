"""The rollout, checked offline: the template's alias, traffic shifting, rollback alarms and pre-traffic
hook; the deploy workflow applying the template with the image it built; the deploy role holding
exactly the AWS actions the workflow and `sam deploy` call.

Where the SAM CLI is installed (``make lint-sam``: .venv-sam from requirements-sam.txt) the template
is also translated by SAM itself and linted by ``sam validate --lint``; elsewhere those tests skip.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from typing import Any

import pytest

from credit_score.runtime import pretraffic
from tests.test_infra import DEPLOY, DEPLOY_POLICY, ROOT, as_list, load_template, load_workflow, steps, using

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
SAM_CLI = ROOT / ".venv-sam" / "bin" / "sam"
ALIAS = "live"
HOOK_PREFIX = "CodeDeployHook_"
CFN_ROLE_POLICY = ROOT / "infra" / "cloudformation-role-policy.json"
ROLLBACK_ALARMS = {("AWS/Lambda", "Errors"), ("AWS/ApiGateway", "5xx"), ("AWS/Lambda", "Duration")}
SHORTEST_CANARY_S = 300

# What `sam deploy` calls (samcli/lib/deploy/deployer.py, aws-sam-cli 1.170.0: has_stack, create_changeset,
# wait_for_changeset, execute_changeset, describe_stack_events, wait_for_execute); an image given by
# its ECR URI is not pushed again, so no ECR call. Checked against the installed SAM CLI below.
SAM_DEPLOY_ACTIONS = {
    "cloudformation:DescribeStacks",
    "cloudformation:GetTemplateSummary",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:DescribeStackEvents",
}
# docker push to ECR (Amazon ECR User Guide, "Pushing a Docker image": the actions a push needs) and
# amazon-ecr-login's GetAuthorizationToken.
ECR_PUSH_ACTIONS = {
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
}
CLI_SERVICES = {"deploy": "codedeploy"}  # `aws deploy` is CodeDeploy's CLI name
CLI_ACTIONS = {("lambda", "invoke"): "lambda:InvokeFunction"}
AWS_CALL = re.compile(r"\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)")


# --- the template ------------------------------------------------------------------------------


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def rollout_findings(template: dict[str, Any]) -> list[str]:
    findings = []
    resources = template["Resources"]
    function = resources["Function"]["Properties"]
    if function.get("AutoPublishAlias") != ALIAS:
        findings.append(f"the function must publish each deploy behind the `{ALIAS}` alias (AutoPublishAlias)")
    preference = function.get("DeploymentPreference", {})
    parameter = template["Parameters"].get("DeploymentType", {})
    if _ref(preference.get("Type")) != "DeploymentType" or parameter.get("Default") != "Canary10Percent5Minutes":
        findings.append("DeploymentPreference.Type must be the DeploymentType parameter, Canary10Percent5Minutes")
    if "AllAtOnce" not in parameter.get("AllowedValues", []):
        findings.append("DeploymentType must allow AllAtOnce")
    wired = {_ref(alarm) for alarm in preference.get("Alarms", [])}
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        alarm = resource["Properties"]
        if (alarm.get("Namespace"), alarm.get("MetricName")) not in ROLLBACK_ALARMS:
            continue
        if name not in wired:
            findings.append(f"{name} must be a rollback trigger of the deployment preference")
        if alarm.get("Period", 0) * alarm.get("DatapointsToAlarm", alarm.get("EvaluationPeriods", 1)) >= (
            SHORTEST_CANARY_S
        ):
            findings.append(f"{name} cannot fire within the shortest canary ({SHORTEST_CANARY_S} s)")
    watched = {
        (resources[name]["Properties"].get("Namespace"), resources[name]["Properties"].get("MetricName"))
        for name in wired
        if name in resources
    }
    if watched != ROLLBACK_ALARMS:
        findings.append("the rollback triggers must be the error, 5xx and p99 alarms")
    hook_name = _ref(preference.get("Hooks", {}).get("PreTraffic"))
    if hook_name not in resources:
        findings.append("the deployment preference needs the pre-traffic hook")
    else:
        findings += hook_findings(template, hook_name)
    for name, resource in resources.items():
        events = (
            resource.get("Properties", {}).get("Events", {})
            if resource.get("Type", "").startswith("AWS::Serverless::Function")
            else {}
        )
        api_events = [e for e in events.values() if e.get("Type") in ("HttpApi", "Api")]
        if api_events and name != "Function":
            findings.append(f"{name}: only the aliased function may serve routes")
    if any(r.get("Type", "").startswith("AWS::ApiGatewayV2::") for r in resources.values()):
        findings.append("routes and integrations come from the function's events, never written by hand")
    if "x-amazon-apigateway-integration" in json.dumps(resources.get("HttpApi", {}).get("Properties", {})):
        findings.append("the HTTP API's integrations must come from the aliased function's events")
    outputs = template.get("Outputs", {})
    for needed in ("ApiUrl", "ModelVersion", "DeploymentApplication", "DeploymentGroup", "LiveAliasArn"):
        if needed not in outputs:
            findings.append(f"the stack must output {needed} (the deploy's summary reads it)")
    return findings


def hook_findings(template: dict[str, Any], hook_name: str) -> list[str]:
    findings = []
    resources = template["Resources"]
    hook = resources[hook_name]["Properties"]
    name = hook.get("FunctionName", {})
    if not (isinstance(name, dict) and str(name.get("Fn::Sub", "")).startswith(HOOK_PREFIX)):
        findings.append(f"the hook's name must start with {HOOK_PREFIX} (what CodeDeploy's managed role may invoke)")
    if hook.get("ImageUri") != {"Ref": "ImageUri"} or hook.get("ImageConfig", {}).get("Command") != [
        "credit_score.runtime.pretraffic.handler"
    ]:
        findings.append("the hook runs credit_score.runtime.pretraffic.handler from the function's own image")
    variables = hook.get("Environment", {}).get("Variables", {})
    if variables.get(pretraffic.TARGET_FUNCTION_VERSION) != {"Ref": "Function.Version"}:
        findings.append(f"{pretraffic.TARGET_FUNCTION_VERSION} must be the new version (Function.Version)")
    if variables.get(pretraffic.EXPECTED_MODEL_VERSION) != {"Ref": "ModelVersion"}:
        findings.append(f"{pretraffic.EXPECTED_MODEL_VERSION} must be the ModelVersion parameter")
    role_name = hook.get("Role", {}).get("Fn::GetAtt", [None])[0]
    if role_name not in resources or "Policies" in hook:
        findings.append("the hook must use its own role")
        return findings
    role = resources[role_name]["Properties"]
    if role.get("ManagedPolicyArns"):
        findings.append("the hook's role must not attach managed policies")
    expected = {
        ("logs:CreateLogStream", "logs:PutLogEvents"): {"Fn::GetAtt": [_ref(hook["LoggingConfig"]["LogGroup"]), "Arn"]},
        ("lambda:InvokeFunction",): {"Ref": "Function.Version"},
        ("codedeploy:PutLifecycleEventHookExecutionStatus",): {
            "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:"
            "${ServerlessDeploymentApplication}/${FunctionDeploymentGroup}"
        },
    }
    granted = {}
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement.get("Effect") == "Allow":
                granted[tuple(sorted(as_list(statement["Action"])))] = statement.get("Resource")
    if granted != expected:
        findings.append(
            "the hook's role must hold exactly: its own log streams, lambda:InvokeFunction on the new version, "
            "PutLifecycleEventHookExecutionStatus on this stack's deployment group"
        )
    return findings


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_given_repository_template_when_rollout_checked_then_no_findings(template: dict[str, Any]) -> None:
    assert rollout_findings(template) == []


def _function(t: dict[str, Any]) -> dict[str, Any]:
    return t["Resources"]["Function"]["Properties"]


def _hook_role(t: dict[str, Any]) -> list[dict[str, Any]]:
    return t["Resources"]["PreTrafficHookRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda t: _function(t).pop("AutoPublishAlias"), "AutoPublishAlias", id="no-alias"),
        pytest.param(
            lambda t: _function(t)["DeploymentPreference"].update({"Type": "AllAtOnce"}), "DeploymentType", id="fixed"
        ),
        pytest.param(
            lambda t: _function(t)["DeploymentPreference"]["Alarms"].pop(), "LatencyP99Alarm must be", id="no-p99"
        ),
        pytest.param(
            lambda t: t["Resources"]["Api5xxAlarm"]["Properties"].update({"Period": 300}),
            "Api5xxAlarm cannot fire",
            id="slow-alarm",
        ),
        pytest.param(lambda t: _function(t)["DeploymentPreference"].pop("Hooks"), "pre-traffic hook", id="no-hook"),
        pytest.param(
            lambda t: t["Resources"]["PreTrafficHook"]["Properties"].update({"FunctionName": "pre-traffic"}),
            HOOK_PREFIX,
            id="hook-name",
        ),
        pytest.param(
            lambda t: _hook_role(t)[1].update({"Resource": {"Fn::GetAtt": ["Function", "Arn"]}}),
            "exactly",
            id="hook-invokes-any-version",
        ),
        pytest.param(
            lambda t: _hook_role(t).append({"Effect": "Allow", "Action": "lambda:UpdateAlias", "Resource": "*"}),
            "exactly",
            id="hook-moves-the-alias",
        ),
        pytest.param(lambda t: _hook_role(t)[2].update({"Resource": "*"}), "exactly", id="hook-reports-anywhere"),
        pytest.param(
            lambda t: t["Resources"]["PreTrafficHook"]["Properties"]["Environment"]["Variables"].update(
                {pretraffic.TARGET_FUNCTION_VERSION: {"Ref": "Function.Alias"}}
            ),
            "new version",
            id="hook-checks-the-alias",
        ),
        pytest.param(
            lambda t: t["Resources"]["PreTrafficHook"]["Properties"].update(
                {"Events": {"Side": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": "/x"}}}}
            ),
            "only the aliased function",
            id="route-on-unaliased-function",
        ),
        pytest.param(
            lambda t: t["Resources"].update(
                {"Route": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "POST /predict"}}}
            ),
            "never written by hand",
            id="hand-written-route",
        ),
        pytest.param(
            lambda t: t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]["/predict"]["post"].update(
                {"x-amazon-apigateway-integration": {"type": "aws_proxy", "uri": {"Fn::GetAtt": ["Function", "Arn"]}}}
            ),
            "integrations must come from",
            id="integration-to-the-unqualified-function",
        ),
        pytest.param(lambda t: t["Outputs"].pop("DeploymentGroup"), "DeploymentGroup", id="no-group-output"),
    ],
)
def test_given_broken_rollout_when_checked_then_flagged(template: dict[str, Any], mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(template)
    mutate(broken)
    findings = rollout_findings(broken)
    assert any(expected in finding for finding in findings), findings


def test_given_hook_command_when_resolved_then_it_is_the_hook_handler(template: dict[str, Any]) -> None:
    command = template["Resources"]["PreTrafficHook"]["Properties"]["ImageConfig"]["Command"][0]
    module, _, attribute = command.rpartition(".")
    assert module == pretraffic.__name__
    assert callable(getattr(pretraffic, attribute))


# --- SAM itself: the translated template, and sam validate --lint ------------------------------


def _sam_installed() -> None:
    if not SAM_PYTHON.is_file():
        pytest.skip("the SAM CLI is not installed (make lint-sam creates .venv-sam from requirements-sam.txt)")


_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse
class NoManagedPolicies:
    def load(self):
        return {}
template = yaml_parse(open(sys.argv[1]).read())
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, default=str)
"""


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    _sam_installed()
    environ = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "SAM_CLI_TELEMETRY": "0"}
    completed = subprocess.run(
        [str(SAM_PYTHON), "-c", _TRANSLATE, str(ROOT / "infra" / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
        check=True,
    )
    return json.loads(completed.stdout)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_given_sam_translation_when_read_then_every_route_invokes_the_live_alias(translated: dict[str, Any]) -> None:
    (alias_name, alias), *others = _of_type(translated, "AWS::Lambda::Alias").items()
    assert others == []
    assert alias["Properties"]["Name"] == ALIAS
    (api,) = _of_type(translated, "AWS::ApiGatewayV2::Api").values()
    routes = {
        (method.upper(), path): operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        for path, operations in api["Properties"]["Body"]["paths"].items()
        for method, operation in operations.items()
    }
    assert set(routes) == {("POST", "/predict"), ("GET", "/health")}
    assert all(f"${{{alias_name}}}" in uri for uri in routes.values()), routes
    permissions = _of_type(translated, "AWS::Lambda::Permission").values()
    gateway = [p["Properties"] for p in permissions if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    assert len(gateway) == 2
    assert all(p["FunctionName"] == {"Ref": alias_name} for p in gateway)


def test_given_sam_translation_when_read_then_alarms_and_hook_drive_the_deployment(
    translated: dict[str, Any], template: dict[str, Any]
) -> None:
    (group,) = _of_type(translated, "AWS::CodeDeploy::DeploymentGroup").values()
    configuration = group["Properties"]
    assert configuration["AlarmConfiguration"]["Enabled"] is True
    alarms = {alarm["Name"]["Ref"] for alarm in configuration["AlarmConfiguration"]["Alarms"]}
    assert alarms == {"FunctionErrorsAlarm", "Api5xxAlarm", "LatencyP99Alarm"}
    rollback = configuration["AutoRollbackConfiguration"]
    assert rollback["Enabled"] is True
    assert {"DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"} <= set(rollback["Events"])
    (alias,) = _of_type(translated, "AWS::Lambda::Alias").values()
    update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert update["BeforeAllowTrafficHook"] == {"Ref": "PreTrafficHook"}
    (version_name,) = _of_type(translated, "AWS::Lambda::Version")
    hook = translated["Resources"]["PreTrafficHook"]["Properties"]
    assert hook["Environment"]["Variables"][pretraffic.TARGET_FUNCTION_VERSION] == {"Ref": version_name}
    statements = translated["Resources"]["PreTrafficHookRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    invoke = [s for s in statements["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    assert [s["Resource"] for s in invoke] == [{"Ref": version_name}]


def test_given_repository_template_when_sam_validate_lints_then_valid() -> None:
    _sam_installed()
    environ = {**os.environ, "AWS_DEFAULT_REGION": "eu-west-1", "SAM_CLI_TELEMETRY": "0"}
    completed = subprocess.run(
        [str(SAM_CLI), "validate", "--lint", "--template-file", "template.yaml"],
        cwd=ROOT / "infra",
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "is a valid SAM Template" in completed.stdout + completed.stderr


def test_given_installed_sam_cli_when_read_then_deploy_calls_only_the_listed_actions() -> None:
    _sam_installed()
    (site,) = (ROOT / ".venv-sam" / "lib").glob("python3*/site-packages")
    source = (site / "samcli" / "lib" / "deploy" / "deployer.py").read_text(encoding="utf-8")
    calls = set(re.findall(r"self\._client\.([a-z_]+)\(", source))
    calls |= set(re.findall(r'get_(?:paginator|waiter)\("([a-z_]+)"\)', source))
    waiters = {"change_set_create_complete": "describe_change_set", "stack_update_complete": "describe_stacks"}
    used = {waiters.get(call, call) for call in calls} - {"get_paginator", "get_waiter"}
    # what deploying an existing or new stack calls; delete/rollback/update_stack paths are other commands
    deploying = used - {"delete_stack", "rollback_stack", "update_stack", "create_stack"}
    deploying -= {"stack_create_complete", "stack_delete_complete"}
    actions = {"cloudformation:" + "".join(part.title() for part in call.split("_")) for call in deploying}
    assert actions == SAM_DEPLOY_ACTIONS, sorted(actions)


# --- the workflow ------------------------------------------------------------------------------


def workflow_findings(workflow: dict[str, Any]) -> list[str]:
    findings = []
    ordered = list(steps(workflow))
    built = [
        (index, step)
        for index, step in enumerate(ordered)
        if step.get("uses", "").startswith("docker/build-push-action@") and step["with"].get("push") is True
    ]
    applied = [(index, step) for index, step in enumerate(ordered) if "sam deploy" in step.get("run", "")]
    if len(built) != 1 or len(applied) != 1:
        return ["the deploy must build and push one image and apply the template once"]
    (build_at, build), (apply_at, apply) = built[0], applied[0]
    if apply_at < build_at:
        findings.append("the template is applied after the image is built")
    image = apply.get("env", {}).get("IMAGE_URI", "")
    if not image.endswith(f"@${{{{ steps.{build.get('id')}.outputs.digest }}}}"):
        findings.append("the template gets the image the job built, by digest")
    script = apply["run"]
    for needed in (
        "--template-file infra/template.yaml",
        '"ImageUri=$IMAGE_URI"',
        '"ModelVersion=$MODEL_VERSION"',
        '"DeploymentType=$DEPLOYMENT_TYPE"',
        "--no-fail-on-empty-changeset",
        "--no-confirm-changeset",
        "--role-arn",
    ):
        if needed not in script:
            findings.append(f"sam deploy needs {needed}")
    if "steps.bundle.outputs.version" not in apply.get("env", {}).get("MODEL_VERSION", ""):
        findings.append("ModelVersion must be the bundle's own version")
    summary = [s for s in ordered if "GITHUB_STEP_SUMMARY" in s.get("run", "") and "list-deployments" in s["run"]]
    if not summary or "always()" not in summary[0].get("if", ""):
        findings.append("the CodeDeploy deployment is reported, also when the deploy failed")
    elif not all(text in summary[0]["run"] for text in ("ApiUrl", "MODEL_VERSION", "deployment")):
        findings.append("the summary names the API URL, the model version and the deployment id")
    return findings


def test_given_repository_deploy_workflow_when_checked_then_it_applies_the_built_image() -> None:
    assert workflow_findings(load_workflow(DEPLOY)) == []


def _apply_step(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(step for step in steps(workflow) if "sam deploy" in step.get("run", ""))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda w: _apply_step(w)["env"].update({"IMAGE_URI": "${{ vars.IMAGE }}:latest"}), "by digest", id="tag"
        ),
        pytest.param(
            lambda w: _apply_step(w).update({"run": _apply_step(w)["run"].replace("--no-confirm-changeset", "")}),
            "--no-confirm-changeset",
            id="prompt",
        ),
        pytest.param(
            lambda w: _apply_step(w).update(
                {"run": _apply_step(w)["run"].replace(" --no-fail-on-empty-changeset", "")}
            ),
            "--no-fail-on-empty-changeset",
            id="empty-changeset-fails",
        ),
        pytest.param(
            lambda w: w["jobs"]["deploy"]["steps"].insert(
                0,
                w["jobs"]["deploy"]["steps"].pop(
                    next(i for i, s in enumerate(w["jobs"]["deploy"]["steps"]) if "sam deploy" in s.get("run", ""))
                ),
            ),
            "after the image is built",
            id="applied-before-build",
        ),
    ],
)
def test_given_broken_deploy_step_when_checked_then_flagged(mutate: Any, expected: str) -> None:
    workflow = load_workflow(DEPLOY)
    mutate(workflow)
    findings = workflow_findings(workflow)
    assert any(expected in finding for finding in findings), findings


def test_given_sam_requirement_when_read_then_exactly_pinned() -> None:
    lines = [line for line in (ROOT / "requirements-sam.txt").read_text().splitlines() if line and line[0] != "#"]
    assert lines == ["aws-sam-cli==1.170.0"]
    assert "requirements-sam.txt" in json.dumps(load_workflow(DEPLOY))


# --- the deploy role: exactly what the workflow calls -----------------------------------------


def needed_actions(workflow: dict[str, Any]) -> set[str]:
    """Every AWS action the deploy job makes: its `aws` CLI calls, `sam deploy`, the ECR login and push."""
    needed: set[str] = set()
    for step in steps(workflow):
        script = step.get("run", "")
        for service, command in AWS_CALL.findall(script):
            prefix = CLI_SERVICES.get(service, service)
            action = CLI_ACTIONS.get((service, command))
            needed.add(action or f"{prefix}:{''.join(part.title() for part in command.split('-'))}")
        if "sam deploy" in script:
            needed |= SAM_DEPLOY_ACTIONS
            if "--role-arn" in script:
                needed.add("iam:PassRole")
    if using(workflow, "aws-actions/amazon-ecr-login"):
        needed.add("ecr:GetAuthorizationToken")
    if any(step["with"].get("push") is True for step in using(workflow, "docker/build-push-action")):
        needed |= ECR_PUSH_ACTIONS
    return needed


def granted_actions(policy: dict[str, Any]) -> set[str]:
    return {action for statement in policy["Statement"] for action in as_list(statement["Action"])}


def action_diff(workflow: dict[str, Any], policy: dict[str, Any]) -> list[str]:
    needed, granted = needed_actions(workflow), granted_actions(policy)
    return [f"missing: {a}" for a in sorted(needed - granted)] + [f"not needed: {a}" for a in sorted(granted - needed)]


def test_given_deploy_workflow_and_role_when_diffed_then_the_role_holds_exactly_what_it_calls() -> None:
    workflow = load_workflow(DEPLOY)
    assert action_diff(workflow, json.loads(DEPLOY_POLICY.read_text(encoding="utf-8"))) == []
    assert {"lambda:InvokeFunction", "codedeploy:ListDeployments", "cloudformation:DescribeStacks"} <= (
        needed_actions(workflow)
    )


def test_given_workflow_calling_more_when_diffed_then_missing_action_named() -> None:
    workflow = load_workflow(DEPLOY)
    _apply_step(workflow)["run"] += "\naws lambda get-function --function-name x\n"
    diff = action_diff(workflow, json.loads(DEPLOY_POLICY.read_text(encoding="utf-8")))
    assert diff == ["missing: lambda:GetFunction"]


def test_given_role_granting_more_when_diffed_then_excess_action_named() -> None:
    policy = json.loads(DEPLOY_POLICY.read_text(encoding="utf-8"))
    policy["Statement"][-1]["Action"] = ["lambda:InvokeFunction", "lambda:UpdateFunctionCode"]
    assert action_diff(load_workflow(DEPLOY), policy) == ["not needed: lambda:UpdateFunctionCode"]


def test_given_sam_transform_when_deployed_then_the_role_may_create_change_sets_with_it() -> None:
    policy = json.loads(DEPLOY_POLICY.read_text(encoding="utf-8"))
    transform = "arn:aws:cloudformation:REGION:aws:transform/Serverless-2016-10-31"
    assert any(
        "cloudformation:CreateChangeSet" in as_list(s["Action"]) and transform in as_list(s["Resource"])
        for s in policy["Statement"]
    )


def test_given_cloudformation_role_policy_when_read_then_it_covers_every_service_of_the_stack_narrowly(
    template: dict[str, Any],
) -> None:
    policy = json.loads(CFN_ROLE_POLICY.read_text(encoding="utf-8"))
    granted = granted_actions(policy)
    services = {a.split(":")[0] for a in granted}
    # the translated stack: functions, versions, alias, permissions (lambda), roles (iam), log groups,
    # the HTTP API (apigateway), the bucket (s3), alarms (cloudwatch), the CodeDeploy application and group
    assert {"lambda", "iam", "logs", "apigateway", "s3", "cloudwatch", "codedeploy", "ecr"} <= services
    for statement in policy["Statement"]:
        assert not any(action.endswith(":*") for action in as_list(statement["Action"])), statement["Sid"]
        if "*" in as_list(statement["Resource"]):
            assert all(a.startswith("logs:") for a in as_list(statement["Action"])), statement["Sid"]
    iam = [s for s in policy["Statement"] if any(a.startswith("iam:") for a in as_list(s["Action"]))]
    assert all(s["Resource"] == "arn:aws:iam::ACCOUNT_ID:role/STACK_NAME-*" for s in iam)
