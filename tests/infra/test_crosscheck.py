"""The Terraform module and the synthesized CDK templates must describe the same deployment:
table key schema and TTL, SSM parameter names, and the IAM actions of every role, per mode."""
import json
import re

import pytest

# role in CDK (logical id prefix, which template) -> policy document in Terraform
ROLES = {
    "viewer_request": ("OnceLinkViewerRequestRole", "main"),
    "issue_url": ("OnceLinkIssueUrlRole", "main"),
    "keys_init": ("OnceLinkKeysInitRole", "main"),
    "edge_shim": ("OnceLinkdemoEdgeShimRole", "edge"),
}


def as_list(x):
    return x if isinstance(x, list) else [x]


# ---- CDK side ------------------------------------------------------------------------------
def cdk_role_actions(template, prefix):
    roles = [rid for rid, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role" and rid.startswith(prefix)]
    if not roles:
        return None
    assert len(roles) == 1, roles
    actions = set()
    for r in template["Resources"].values():
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": roles[0]} in r["Properties"]["Roles"]:
            for st in r["Properties"]["PolicyDocument"]["Statement"]:
                actions.update(as_list(st["Action"]))
    return actions


def cdk_parameter_suffixes(template):
    names = set()
    for r in template["Resources"].values():
        if r["Type"] == "AWS::SSM::Parameter":
            names.add(r["Properties"]["Name"])
        if r["Type"] == "Custom::OnceLinkKeySet":
            names.add(r["Properties"]["ParameterName"])
    assert all(n.startswith("/oncelink/demo/") for n in names), names
    return {n.removeprefix("/oncelink/demo/") for n in names}


def cdk_table(template):
    [table] = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    return table


# ---- Terraform side --------------------------------------------------------------------------
def enabled(expr, mode):
    """Evaluates the module's only guard shapes: `local.sealed ? ...`, `local.presigned ? ...`."""
    if expr in (None, ""):
        return True
    expr = str(expr)
    if "local.sealed" in expr:
        return mode == "sealed"
    if "local.presigned" in expr:
        return mode == "presigned"
    if "var.waf_rate_limit" in expr or "local.own_bucket" in expr or "var.issuer_auth" in expr:
        return True
    raise AssertionError(f"unknown guard {expr}")


def tf_role_actions(module, name, mode):
    doc = module["data"]["aws_iam_policy_document"].get(name)
    if doc is None or not enabled(doc.get("count"), mode):
        return None
    actions = set()
    for st in doc.get("statement", []):
        actions.update(st["actions"])
    for dyn in doc.get("dynamic", []):
        block = dyn["statement"]
        if enabled(block["for_each"], mode):
            for st in block["content"]:
                actions.update(st["actions"])
    return actions


def tf_parameter_suffixes(module, mode):
    names = {p["name"] for p in module["resource"]["aws_ssm_parameter"].values()}
    inv = module["resource"]["aws_lambda_invocation"]["key_set"]
    if enabled(inv.get("count"), mode):
        names |= set(re.findall(r'"?(\$\{local\.ssm_prefix\}/[a-z-]+)', inv["input"]))
    assert all(n.startswith("${local.ssm_prefix}/") for n in names), names
    return {n.removeprefix("${local.ssm_prefix}/") for n in names}


# ---- the comparisons ------------------------------------------------------------------------
def test_table_key_schema_and_ttl(cdk, module):
    _, main, _ = cdk
    table = cdk_table(main)
    tf = module["resource"]["aws_dynamodb_table"]["ledger"]
    cdk_keys = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
    assert cdk_keys == [(tf["hash_key"], "HASH")] == [("pk", "HASH")]
    assert "range_key" not in tf
    cdk_attrs = {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]}
    tf_attrs = {(a["name"], a["type"]) for a in tf["attribute"]}
    assert cdk_attrs == tf_attrs == {("pk", "S")}
    assert table["TimeToLiveSpecification"] == {"AttributeName": tf["ttl"][0]["attribute_name"], "Enabled": tf["ttl"][0]["enabled"]}
    assert tf["ttl"][0]["attribute_name"] == "expires_at"
    assert table["BillingMode"] == tf["billing_mode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True is tf["point_in_time_recovery"][0]["enabled"]
    assert table["TableName"] == "oncelink-demo-ledger" and tf["name"] == "oncelink-${var.deployment_name}-ledger"


def test_ssm_parameter_names(cdk, module):
    mode, main, _ = cdk
    cdk_names = cdk_parameter_suffixes(main)
    assert cdk_names == tf_parameter_suffixes(module, mode)
    assert cdk_names == ({"table-name", "edge-config", "keys"} if mode == "sealed" else {"table-name", "edge-config"})
    # The validator is granted exactly the same three parameter names in both tools.
    arns = module["locals"]["parameter_arns"]
    assert all(p in arns for p in ('"table-name"', '"edge-config"', '"keys"')) or all(p in arns for p in ("table-name", "edge-config", "keys"))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_iam_actions_per_role(cdk, module, role):
    mode, main, edge = cdk
    prefix, where = ROLES[role]
    cdk_actions = cdk_role_actions(main if where == "main" else edge, prefix)
    tf_actions = tf_role_actions(module, role, mode)
    assert cdk_actions == tf_actions, f"{mode} {role}: CDK {sorted(cdk_actions or [])} vs Terraform {sorted(tf_actions or [])}"
    if cdk_actions is not None:
        assert not any("*" in a for a in cdk_actions)


def test_edge_config_fields(cdk, module):
    mode, main, _ = cdk
    [param] = [r for r in main["Resources"].values() if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"].endswith("/edge-config")]
    cdk_fields = set(re.findall(r'\\?"([a-z_]+)\\?":', json.dumps(param["Properties"]["Value"])))
    tf_value = module["resource"]["aws_ssm_parameter"]["edge_config"]["value"]
    for field in ("mode", "cdn_domain"):
        assert field in cdk_fields and field in tf_value
    assert "preview_user_agents" in tf_value


def test_shared_names(cdk, module):
    mode, main, edge = cdk
    fns = {r["Properties"].get("FunctionName") for r in main["Resources"].values() if r["Type"] == "AWS::Lambda::Function"}
    assert {"oncelink-demo-viewer-request", "oncelink-demo-issue-url"} <= fns
    assert {r["Properties"].get("FunctionName") for r in edge["Resources"].values() if r["Type"] == "AWS::Lambda::Function"} == {"oncelink-demo-edge-shim"}
    locals_ = module["locals"]
    assert locals_["viewer_request_name"] == "oncelink-${var.deployment_name}-viewer-request"
    assert locals_["issue_url_name"] == "oncelink-${var.deployment_name}-issue-url"
    assert locals_["edge_shim_name"] == "oncelink-${var.deployment_name}-edge-shim"
    assert locals_["ssm_prefix"] == "/oncelink/${var.deployment_name}"
