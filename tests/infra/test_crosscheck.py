"""The Terraform module and the synthesized CDK templates must describe the same deployment:
table key schema and TTL, SSM parameter names, the IAM actions of every role, the edge
function's associations, the forwarded link header and the security headers, per mode."""
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


ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
LINK_HEADER = "x-oncelink-link"


def cdk_behavior(template):
    [dist] = [r["Properties"]["DistributionConfig"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"]
    assert "CacheBehaviors" not in dist
    return dist["DefaultCacheBehavior"]


def cdk_forwarded_headers(template):
    """What the default behavior's origin request policy forwards: a set, or ALL (every viewer header but Host)."""
    policy = cdk_behavior(template)["OriginRequestPolicyId"]
    if policy == ALL_VIEWER_EXCEPT_HOST:
        return "ALL"
    cfg = template["Resources"][policy["Ref"]]["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]
    assert cfg["HeaderBehavior"] == "whitelist"
    return {h.lower() for h in cfg["Headers"]}


def tf_local(module, value):
    """Resolves a bare `${local.name}` reference; any other value as it is."""
    m = re.fullmatch(r"\$\{local\.([a-z_]+)\}", value)
    return module["locals"][m.group(1)] if m else value


def tf_forwarded_headers(module, mode):
    expr = module["resource"]["aws_cloudfront_distribution"]["this"]["default_cache_behavior"][0]["origin_request_policy_id"]
    m = re.fullmatch(r"\$\{local\.sealed \? (\S+) : (\S+)\}", expr)
    assert m, expr
    chosen = m.group(1) if mode == "sealed" else m.group(2)
    if chosen.startswith("local."):
        assert module["locals"][chosen.removeprefix("local.")] == ALL_VIEWER_EXCEPT_HOST
        return "ALL"
    assert chosen == "aws_cloudfront_origin_request_policy.sealed[0].id", chosen
    cfg = module["resource"]["aws_cloudfront_origin_request_policy"]["sealed"]["headers_config"][0]
    assert cfg["header_behavior"] == "whitelist"
    return {tf_local(module, h).lower() for h in cfg["headers"][0]["items"]}


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


def test_edge_function_associations(cdk, module):
    _, main, edge = cdk
    cdk_assoc = cdk_behavior(main)["LambdaFunctionAssociations"]
    tf_assoc = module["resource"]["aws_cloudfront_distribution"]["this"]["default_cache_behavior"][0]["lambda_function_association"]
    cdk_pairs = [(a["EventType"], bool(a.get("IncludeBody", False))) for a in cdk_assoc]
    tf_pairs = [(a["event_type"], bool(a.get("include_body", False))) for a in tf_assoc]
    assert cdk_pairs == tf_pairs == [("viewer-request", False), ("origin-response", False)]
    # Both events run the one edge function (one version) in each tool.
    assert len({json.dumps(a["LambdaFunctionARN"], sort_keys=True) for a in cdk_assoc}) == 1
    assert [r["Type"] for r in edge["Resources"].values()].count("AWS::Lambda::Function") == 1
    assert {a["lambda_arn"] for a in tf_assoc} == {"${aws_lambda_function.edge_shim.qualified_arn}"}
    assert "ordered_cache_behavior" not in module["resource"]["aws_cloudfront_distribution"]["this"]


def test_forwarded_headers_include_the_link_header(cdk, module):
    mode, main, _ = cdk
    cdk_headers, tf_headers = cdk_forwarded_headers(main), tf_forwarded_headers(module, mode)
    assert cdk_headers == tf_headers
    if mode == "sealed":
        assert LINK_HEADER in cdk_headers and "host" not in cdk_headers and "authorization" not in cdk_headers
    else:
        assert cdk_headers == "ALL"


def test_security_headers(cdk, module):
    _, main, _ = cdk
    [policy] = [r["Properties"]["ResponseHeadersPolicyConfig"] for r in main["Resources"].values() if r["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"]
    cdk_sec = policy["SecurityHeadersConfig"]
    tf_sec = module["resource"]["aws_cloudfront_response_headers_policy"]["security"]["security_headers_config"][0]
    assert cdk_sec["ContentSecurityPolicy"]["ContentSecurityPolicy"] == tf_sec["content_security_policy"][0]["content_security_policy"]
    assert "sandbox" in [d.strip() for d in cdk_sec["ContentSecurityPolicy"]["ContentSecurityPolicy"].split(";")]
    assert cdk_sec["ContentSecurityPolicy"]["Override"] is True is tf_sec["content_security_policy"][0]["override"]
    assert cdk_sec["ContentTypeOptions"] == {"Override": True} and tf_sec["content_type_options"] == [{"override": True}]
    assert cdk_sec["ReferrerPolicy"]["ReferrerPolicy"] == tf_sec["referrer_policy"][0]["referrer_policy"] == "no-referrer"
    assert cdk_sec["FrameOptions"]["FrameOption"] == tf_sec["frame_options"][0]["frame_option"] == "DENY"
    assert cdk_sec["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == tf_sec["strict_transport_security"][0]["access_control_max_age_sec"]
