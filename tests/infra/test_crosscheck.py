"""The Terraform module and the synthesized CDK templates must describe the same deployment:
table key schema and TTL, SSM parameter names, the IAM actions of every role, the edge
function's associations, the forwarded link header and the security headers, per mode; the
link-event pipeline (stream, mapping, DLQ, bus); every alarm (name, metrics, threshold) and the
dashboard (name, shared body)."""
import json
import re

import pytest

# role in CDK (logical id prefix, which template) -> policy document in Terraform
ROLES = {
    "viewer_request": ("OnceLinkViewerRequestRole", "main"),
    "issue_url": ("OnceLinkIssueUrlRole", "main"),
    "keys_init": ("OnceLinkKeysInitRole", "main"),
    "edge_shim": ("OnceLinkdemoEdgeShimRole", "edge"),
    "ledger_events": ("OnceLinkLedgerEventsRole", "main"),
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
    if "var.waf_rate_limit" in expr or "local.own_bucket" in expr or "var.issuer_auth" in expr or "local.waf_" in expr:
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


# ---- link events, alarms, dashboard ------------------------------------------------------------
def cdk_alarms(cdk_tuple):
    _, main, _ = cdk_tuple
    out = {}
    for r in main["Resources"].values():
        if r["Type"] == "AWS::CloudWatch::Alarm":
            out[r["Properties"]["AlarmName"]] = r["Properties"]
    return out


def cdk_edge_alarms(mode):
    import json as _json
    from conftest import cdk_out
    t = _json.loads((cdk_out() / mode / "OnceLink-demo-edge-alarms.template.json").read_text())
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in t["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}


def tf_var_default(module, value):
    """`${var.x}` -> the variable's default; a literal as it is."""
    m = re.fullmatch(r"\$\{var\.([a-z0-9_]+)\}", str(value))
    return module["variable"][m.group(1)]["default"] if m else value


def tf_name(value):
    return str(value).replace("${var.deployment_name}", "demo").replace("${local.ledger_events_name}", "oncelink-demo-ledger-events").replace("${local.events_dlq_name}", "oncelink-demo-ledger-events-dlq")


def normalize_cdk_query(q):
    d = {"id": q["Id"], "return_data": q.get("ReturnData", True)}
    if "Expression" in q:
        d["expression"] = q["Expression"]
    if "Period" in q:
        d["period"] = q["Period"]
    if "MetricStat" in q:
        ms = q["MetricStat"]
        d["metric"] = (ms["Metric"]["Namespace"], ms["Metric"]["MetricName"], tuple(sorted((x["Name"], x["Value"]) for x in ms["Metric"]["Dimensions"])), ms["Stat"], ms["Period"])
    return d


def normalize_tf_query(module, q):
    d = {"id": q["id"], "return_data": q.get("return_data", True)}
    if "expression" in q:
        d["expression"] = q["expression"]
    if "period" in q:
        d["period"] = tf_var_default(module, q["period"])
    if "metric" in q:
        m = q["metric"][0]
        d["metric"] = (m["namespace"], m["metric_name"], tuple(sorted((k, tf_name(v)) for k, v in m["dimensions"].items())), m["stat"], m["period"])
    return d


ALARM_NAMES = {"ledger-errors", "config-errors", "denial-spike", "event-delivery", "edge-5xx"}


def test_alarms_same_names_metrics_and_thresholds(cdk, module):
    mode = cdk[0]
    cdk_all = {**cdk_alarms(cdk), **cdk_edge_alarms(mode)}
    tf_all = {tf_name(a["alarm_name"]): a for a in module["resource"]["aws_cloudwatch_metric_alarm"].values()}
    assert set(cdk_all) == set(tf_all) == {f"oncelink-demo-{n}" for n in ALARM_NAMES}
    for name, c in cdk_all.items():
        t = tf_all[name]
        assert c["ComparisonOperator"] == t["comparison_operator"] == "GreaterThanThreshold", name
        assert c["TreatMissingData"] == t["treat_missing_data"] == "notBreaching", name
        assert c["EvaluationPeriods"] == t["evaluation_periods"], name
        assert c.get("DatapointsToAlarm") == t.get("datapoints_to_alarm"), name
        assert c["Threshold"] == tf_var_default(module, t["threshold"]), name
        if "Metrics" in c:
            assert [normalize_cdk_query(q) for q in c["Metrics"]] == [normalize_tf_query(module, q) for q in t["metric_query"]], name
        else:
            assert (c["Namespace"], c["MetricName"], c["Statistic"], c["Period"]) == (t["namespace"], t["metric_name"], t["statistic"], t["period"]), name
            assert [d["Name"] for d in c["Dimensions"]] == list(t["dimensions"]) == ["DistributionId", "Region"]
            assert c["Dimensions"][1]["Value"] == t["dimensions"]["Region"] == "Global"
    # CloudFront's metrics live in us-east-1: so does the edge alarm in both tools.
    assert module["resource"]["aws_cloudwatch_metric_alarm"]["edge_5xx"]["provider"] == "${aws.us_east_1}"
    assert "oncelink-demo-edge-5xx" not in cdk_alarms(cdk)


def test_dashboard_same_name_and_body(cdk, module):
    _, main, _ = cdk
    [d] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    tf = module["resource"]["aws_cloudwatch_dashboard"]["this"]
    assert d["DashboardName"] == tf_name(tf["dashboard_name"]) == "oncelink-demo"
    body, variables = d["DashboardBody"]["Fn::Sub"]
    from conftest import REPO
    assert body == (REPO / "infra" / "monitoring" / "dashboard.json.tftpl").read_text()
    assert "monitoring/dashboard.json.tftpl" in tf["dashboard_body"]
    for var in variables:
        assert re.search(rf"\b{var}\s*=", tf["dashboard_body"]), f"templatefile() misses {var}"


def test_link_event_pipeline(cdk, module):
    _, main, _ = cdk
    [table] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    tf_table = module["resource"]["aws_dynamodb_table"]["ledger"]
    assert table["StreamSpecification"]["StreamViewType"] == tf_table["stream_view_type"] == "NEW_AND_OLD_IMAGES"
    assert tf_table["stream_enabled"] is True
    [m] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    tm = module["resource"]["aws_lambda_event_source_mapping"]["ledger_events"]
    assert (m["StartingPosition"], m["BatchSize"], m["MaximumBatchingWindowInSeconds"], m["ParallelizationFactor"], m["BisectBatchOnFunctionError"],
            m["MaximumRetryAttempts"], m["MaximumRecordAgeInSeconds"], m["FunctionResponseTypes"]) == (
        tm["starting_position"], tm["batch_size"], tm["maximum_batching_window_in_seconds"], tm["parallelization_factor"], tm["bisect_batch_on_function_error"],
        tm["maximum_retry_attempts"], tm["maximum_record_age_in_seconds"], tm["function_response_types"])
    assert tm["destination_config"][0]["on_failure"][0]["destination_arn"] == "${aws_sqs_queue.ledger_events_dlq.arn}"
    assert "OnFailure" in m["DestinationConfig"]
    [q] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::SQS::Queue"]
    tq = module["resource"]["aws_sqs_queue"]["ledger_events_dlq"]
    assert q["QueueName"] == tf_name(tq["name"]) == "oncelink-demo-ledger-events-dlq"
    assert q["SqsManagedSseEnabled"] is True is tq["sqs_managed_sse_enabled"]
    assert q["MessageRetentionPeriod"] == tq["message_retention_seconds"]
    [bus] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::Events::EventBus"]
    assert bus["Name"] == tf_name(module["resource"]["aws_cloudwatch_event_bus"]["this"]["name"]) == "oncelink-demo"
    [fn] = [r["Properties"] for r in main["Resources"].values() if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("FunctionName") == "oncelink-demo-ledger-events"]
    tfn = module["resource"]["aws_lambda_function"]["ledger_events"]
    assert set(fn["Environment"]["Variables"]) == set(tfn["environment"][0]["variables"]) == {"RUST_LOG", "ONCELINK_EVENT_BUS"}
    assert (fn["Runtime"], fn["Architectures"], fn["Handler"], fn["Timeout"], fn["MemorySize"]) == (tfn["runtime"], tfn["architectures"], tfn["handler"], tfn["timeout"], tfn["memory_size"])
    # PutEvents: the same conditions in both tools.
    role = [rid for rid, r in main["Resources"].items() if r["Type"] == "AWS::IAM::Role" and rid.startswith("OnceLinkLedgerEventsRole")][0]
    [put] = [st for r in main["Resources"].values() if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
             for st in r["Properties"]["PolicyDocument"]["Statement"] if st["Action"] == "events:PutEvents"]
    [tput] = [st for st in module["data"]["aws_iam_policy_document"]["ledger_events"]["statement"] if st["actions"] == ["events:PutEvents"]]
    tf_cond = {c["variable"]: c["values"] for c in tput["condition"]}
    tf_cond = {k: (module["locals"][v.removeprefix("${local.").removesuffix("}")] if isinstance(v, str) else v) for k, v in tf_cond.items()}
    tf_cond = {k: (v if not (isinstance(v, list) and len(v) == 1 and k == "events:source") else v[0]) for k, v in tf_cond.items()}
    tf_cond = {k: (module["locals"]["event_source"] if v == "${local.event_source}" else v) for k, v in tf_cond.items()}
    assert put["Condition"]["StringEquals"] == tf_cond


def test_waf_rules_same_shape(module):
    """The CDK side is asserted in test/oncelink.test.ts; here: the module's rule names, priorities and IP sets match it."""
    acl = module["resource"]["aws_wafv2_web_acl"]["rate_limit"]
    rules = {d["rule"]["content"][0]["name"]: d["rule"]["content"][0]["priority"] for d in acl["dynamic"]}
    assert rules == {"per-ip-rate-limit": 0, "not-in-allow-list": 1}
    sets = module["resource"]["aws_wafv2_ip_set"]
    assert {tf_name(s["name"]): s["ip_address_version"] for s in sets.values()} == {"oncelink-demo-allow-v4": "IPV4", "oncelink-demo-allow-v6": "IPV6"}
    assert tf_name(acl["name"]) == "oncelink-demo-rate-limit"
