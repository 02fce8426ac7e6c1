"""Access to the deployed service: no unauthenticated route, callers and roles with what they use.

The template is read as written (``cfnlint.decode``): every route an event of the function adds to
the HTTP API must carry a security requirement in both outcomes of the ``JwtIssuer`` choice (SigV4
or a JWT authorizer), and any Function URL must be ``AWS_IAM``. The caller policy grants
``execute-api:Invoke`` on exactly the template's routes. The documented ``sed`` commands are run on
sample names, and the drift role's policy holds exactly the AWS actions the drift job calls.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "infra" / "template.yaml"
CALLER_POLICY = ROOT / "infra" / "caller-policy.json"
TRUST_POLICY = ROOT / "infra" / "github-oidc-trust-policy.json"
DRIFT_POLICY = ROOT / "infra" / "github-drift-role-policy.json"
DRIFT = ROOT / ".github" / "workflows" / "drift.yml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
SECURITY_DOC = ROOT / "docs" / "security.md"
SCHEMES = {"AWS_IAM": "awsSigv4", "JwtAuthorizer": "jwt"}


def load_template(text: str | None = None) -> dict[str, Any]:
    template, matches = decode_str(TEMPLATE.read_text(encoding="utf-8") if text is None else text)
    assert not matches, matches
    return json.loads(json.dumps(template))  # plain dicts and lists, intrinsics as {"Fn::If": ...}


def outcomes(value: Any) -> list[Any]:
    """Every value ``value`` can take once CloudFormation resolves its ``Fn::If`` (recursively)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return [v for branch in value["Fn::If"][1:] for v in outcomes(branch)]
    return [value]


def route_findings(template: dict[str, Any]) -> list[str]:
    """Every way a route of the template could answer without authentication."""
    findings = []
    resources = template["Resources"]
    for name, resource in resources.items():
        kind, properties = resource.get("Type"), resource.get("Properties", {})
        url = properties.get("FunctionUrlConfig") if kind == "AWS::Serverless::Function" else None
        if kind == "AWS::Lambda::Url":
            url = properties
        if url is not None and url.get("AuthType") != "AWS_IAM":
            findings.append(f"{name}: the Function URL must be AuthType AWS_IAM")
        if kind == "AWS::ApiGatewayV2::Route" and properties.get("AuthorizationType", "NONE") == "NONE":
            findings.append(f"{name}: a route without authorization")
        if kind in ("AWS::Serverless::Api", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"):
            findings.append(f"{name}: an API this check does not read; add its routes to the check")
        if kind == "AWS::Serverless::HttpApi" and properties.get("Auth"):
            findings.append(f"{name}: authorization lives in the DefinitionBody, not Auth (one parameter picks)")
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "HttpApi":
                continue
            event_properties = event.get("Properties", {})
            if event_properties.get("Auth", {}).get("Authorizer") == "NONE":
                findings.append(f"{name}.{event_name}: Authorizer NONE")
            api = resources.get(event_properties.get("ApiId", {}).get("Ref", ""), {})
            if "ApiId" not in event_properties or api.get("Type") != "AWS::Serverless::HttpApi":
                findings.append(f"{name}.{event_name}: on the implicit API, which has no authorizer")
                continue
            findings += _operation_findings(api["Properties"], event_properties, f"{name}.{event_name}")
    return findings


def _operation_findings(api: dict[str, Any], event: dict[str, Any], where: str) -> list[str]:
    body = api.get("DefinitionBody", {})
    path, method = event.get("Path", "$default"), str(event.get("Method", "ANY")).lower()
    operation = body.get("paths", {}).get(path, {}).get(method)
    if operation is None:
        return [f"{where}: {method.upper()} {path} has no operation with security in the DefinitionBody"]
    findings = []
    defined: dict[str, Any] = {}
    for option in outcomes(body.get("components", {}).get("securitySchemes", {})):
        defined.update(option)
    for requirement in outcomes(operation.get("security")):
        if not requirement or not all(isinstance(r, dict) and r for r in requirement):
            findings.append(f"{where}: {method.upper()} {path} may have no security requirement")
            continue
        for scheme in (name for entry in requirement for name in entry):
            kind = defined.get(scheme, {})
            authtype = kind.get("x-amazon-apigateway-authtype") or kind.get("x-amazon-apigateway-authorizer", {}).get(
                "type"
            )
            if scheme not in SCHEMES or SCHEMES[scheme] != authtype:
                findings.append(f"{where}: {method.upper()} {path} names {scheme}, not defined as in {SCHEMES}")
    return findings


def routes(template: dict[str, Any]) -> set[tuple[str, str]]:
    events = template["Resources"]["Function"]["Properties"]["Events"].values()
    return {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events if e["Type"] == "HttpApi"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def test_given_the_template_when_every_route_is_read_then_none_unauthenticated(template):
    assert route_findings(template) == []
    assert {("POST", "/predict"), ("GET", "/health")} <= routes(template)


def test_given_the_template_when_no_jwt_issuer_then_sigv4_and_with_one_a_jwt_authorizer(template):
    condition = template["Conditions"]["UseJwt"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}
    assert template["Parameters"]["JwtIssuer"]["Default"] == ""
    body = template["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]
    jwt, iam = body["components"]["securitySchemes"]["Fn::If"][1:]
    assert iam["AWS_IAM"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert jwt["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": {"Ref": "JwtAudience"},
    }
    rule = template["Rules"]["JwtIssuerNeedsAnAudience"]
    assert rule["RuleCondition"] == condition


def _mutated(template: dict[str, Any], change) -> dict[str, Any]:
    broken = copy.deepcopy(template)
    change(broken)
    return broken


def _drop_health_security(t):
    del t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]["/health"]["get"]["security"]


def _empty_iam_branch(t):
    security = t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]["/predict"]["post"]["security"]
    security["Fn::If"][2] = []


def _new_route(t):
    t["Resources"]["Function"]["Properties"]["Events"]["Open"] = {
        "Type": "HttpApi",
        "Properties": {"ApiId": {"Ref": "HttpApi"}, "Path": "/open", "Method": "GET"},
    }


def _implicit_api(t):
    t["Resources"]["Function"]["Properties"]["Events"]["Open"] = {
        "Type": "HttpApi",
        "Properties": {"Path": "/open", "Method": "GET"},
    }


def _public_function_url(t):
    t["Resources"]["Function"]["Properties"]["FunctionUrlConfig"] = {"AuthType": "NONE"}


def _undefined_scheme(t):
    security = t["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"]["/predict"]["post"]["security"]
    security["Fn::If"][2] = [{"Anything": []}]


def _none_authorizer(t):
    t["Resources"]["Function"]["Properties"]["Events"]["Predict"]["Properties"]["Auth"] = {"Authorizer": "NONE"}


@pytest.mark.parametrize(
    "change",
    [
        _drop_health_security,
        _empty_iam_branch,
        _new_route,
        _implicit_api,
        _public_function_url,
        _undefined_scheme,
        _none_authorizer,
    ],
)
def test_given_an_unauthenticated_route_when_checked_then_flagged(template, change):
    assert route_findings(_mutated(template, change)) != []


def test_given_the_caller_policy_when_read_then_invoke_on_exactly_the_template_routes(template):
    document = json.loads(CALLER_POLICY.read_text())
    [statement] = document["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
    # HTTP API resource ARNs: arn:aws:execute-api:region:account:api-id/stage/METHOD/path (AWS docs,
    # "Control access to an HTTP API with IAM authorization")
    granted = set()
    for arn in statement["Resource"]:
        match = re.fullmatch(r"arn:aws:execute-api:REGION:ACCOUNT_ID:API_ID/\$default/([A-Z]+)(/\S+)", arn)
        assert match, arn
        granted.add(match.groups())
    assert granted == routes(template)


# --- the documented role commands, run on sample names --------------------------------------------


def documented_sed(doc: Path, policy: str) -> str:
    """The ``sed`` command of ``doc`` (one logical line) that fills in ``policy``."""
    text = doc.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith("sed ") and policy in line]
    return line


def run_documented(command: str, out: Path, **env: str) -> Any:
    command = re.sub(r"> /tmp/\S+", f"> {out}", command)
    subprocess.run(["bash", "-c", command], cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env}, check=True)
    return json.loads(out.read_text())


def placeholders(document: Any) -> set[str]:
    return set(
        re.findall(
            r"\b(?:ACCOUNT_ID|OWNER/REPO|REGION|CAPTURE_BUCKET|CAPTURE_PREFIX|METRICS_NAMESPACE|OUTCOMES_OBJECT)\b",
            json.dumps(document),
        )
    )


def test_given_the_documented_trust_substitution_when_run_on_a_sample_repository_then_its_subjects(tmp_path):
    command = documented_sed(DEPLOY_DOC, "infra/github-oidc-trust-policy.json")
    document = run_documented(
        command, tmp_path / "trust.json", ACCOUNT_ID="123456789012", GITHUB_REPO="acme-lending/credit-score"
    )
    [statement] = document["Statement"]
    assert statement["Principal"]["Federated"] == (
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        "repo:acme-lending/credit-score:ref:refs/heads/main",
        "repo:acme-lending/credit-score:environment:production",
    ]
    assert placeholders(document) == set()


def test_given_the_documented_drift_substitution_when_run_then_a_complete_policy(tmp_path):
    command = documented_sed(SECURITY_DOC, "infra/github-drift-role-policy.json")
    document = run_documented(
        command,
        tmp_path / "drift.json",
        CAPTURE_BUCKET="acme-capture",
        CAPTURE_PREFIX="capture",
        METRICS_NAMESPACE="CreditScore",
        OUTCOMES_URI="s3://acme-outcomes/labels/2026-11.csv",
    )
    assert placeholders(document) == set()
    resources = {json.dumps(s["Resource"]) for s in document["Statement"]}
    assert '"arn:aws:s3:::acme-capture/capture/*"' in resources
    assert '"arn:aws:s3:::acme-outcomes/labels/2026-11.csv"' in resources


def test_given_the_drift_policy_when_read_then_the_outcomes_are_one_object_read_only():
    document = json.loads(DRIFT_POLICY.read_text())
    [outcomes] = [s for s in document["Statement"] if "OUTCOMES_OBJECT" in json.dumps(s)]
    assert (outcomes["Effect"], outcomes["Action"], outcomes["Resource"]) == (
        "Allow",
        "s3:GetObject",
        "arn:aws:s3:::OUTCOMES_OBJECT",
    )
    assert "Condition" not in outcomes


# The AWS calls the drift job makes (boto3 client methods in the monitoring house) and the IAM action each needs
# (Service Authorization Reference: ListObjectsV2 is authorised by s3:ListBucket).
IAM_ACTION = {
    "list_objects_v2": "s3:ListBucket",
    "get_object": "s3:GetObject",
    "put_metric_data": "cloudwatch:PutMetricData",
}


def drift_calls() -> set[str]:
    source = "\n".join(path.read_text() for path in (ROOT / "src" / "credit_score" / "monitoring").glob("*.py"))
    return set(re.findall(r"client\.(\w+)\b", source)) - {"meta"}


def test_given_the_drift_job_when_its_aws_calls_are_listed_then_the_drift_policy_grants_exactly_those():
    calls = drift_calls()
    assert calls <= set(IAM_ACTION), f"map the new call(s) to their IAM action: {calls - set(IAM_ACTION)}"
    document = json.loads(DRIFT_POLICY.read_text())
    granted = {
        action
        for s in document["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == {IAM_ACTION[call] for call in calls}
    assert all(s["Resource"] != "*" or s["Action"] == "cloudwatch:PutMetricData" for s in document["Statement"])
    metrics = next(s for s in document["Statement"] if s["Action"] == "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "METRICS_NAMESPACE"}}


def test_given_the_drift_workflow_when_read_then_it_assumes_the_drift_role_only():
    workflow = yaml.safe_load(DRIFT.read_text())
    [step] = [
        step
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert step["with"]["role-to-assume"] == "${{ vars.DRIFT_ROLE_ARN }}"
