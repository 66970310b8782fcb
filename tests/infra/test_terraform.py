"""Offline checks of infra/terraform: every file parses, checkov passes, every skip says why."""
import json
import pathlib
import re
import subprocess
import sys

import pytest

from conftest import TF, load_tf, tf_files


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TF)))
def test_every_file_parses(path):
    assert load_tf(path), f"{path} is empty"


def test_checkov_zero_failed():
    checkov = pathlib.Path(sys.executable).with_name("checkov")
    proc = subprocess.run(
        [str(checkov), "-d", str(TF), "--skip-download", "--quiet", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    skipped = sum(r.get("summary", {}).get("skipped", 0) for r in reports)
    print(f"checkov: passed {passed}, failed {len(failed)}, skipped {skipped}")
    assert not failed, failed
    assert passed > 50
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_checkov_skip_has_a_reason():
    skips = 0
    for path in tf_files():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "checkov:skip" in line:
                skips += 1
                m = re.search(r"#checkov:skip=(CKV2?_AWS_\d+):(.+)$", line)
                assert m and len(m.group(2).strip()) >= 20, f"{path}:{n}: skip without a real reason: {line.strip()}"
    assert skips > 0


def test_module_documents_every_variable_and_output(module):
    readme = (TF / "README.md").read_text()
    for name, body in module["variable"].items():
        assert body.get("description"), f"variable {name} has no description"
        assert f"`{name}`" in readme, f"variable {name} missing from infra/terraform/README.md"
    for name, body in module["output"].items():
        assert body.get("description"), f"output {name} has no description"
        assert f"`{name}`" in readme, f"output {name} missing from infra/terraform/README.md"


def test_required_outputs(module):
    assert {"api_url", "cdn_domain", "table_name", "bucket_name"} <= set(module["output"])


def test_presigned_has_no_oac_and_sealed_has_one(module):
    oac = module["resource"]["aws_cloudfront_origin_access_control"]["this"]
    assert oac["count"] == "${local.sealed ? 1 : 0}"
    assert oac["signing_behavior"] == "always"
    dist = module["resource"]["aws_cloudfront_distribution"]["this"]
    origin = dist["origin"][0]
    assert origin["origin_access_control_id"] == "${local.sealed ? aws_cloudfront_origin_access_control.this[0].id : null}"
    assert origin["s3_origin_config"][0]["origin_access_identity"] == ""
    assert "aws_cloudfront_origin_access_identity" not in module["resource"]


def test_cache_and_origin_request_policies(module):
    behavior = module["resource"]["aws_cloudfront_distribution"]["this"]["default_cache_behavior"][0]
    locals_ = module["locals"]
    assert locals_["cache_policy_caching_disabled"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert locals_["origin_request_all_viewer_but_host"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    assert behavior["cache_policy_id"] == "${local.cache_policy_caching_disabled}"
    assert "local.origin_request_all_viewer_but_host" in behavior["origin_request_policy_id"]
    assert behavior["viewer_protocol_policy"] == "https-only"
    assert behavior["lambda_function_association"][0]["event_type"] == "viewer-request"
    sealed = module["resource"]["aws_cloudfront_origin_request_policy"]["sealed"]
    headers = [h.lower() for h in sealed["headers_config"][0]["headers"][0]["items"]]
    assert "host" not in headers and "authorization" not in headers


def test_edge_shim_is_node_in_us_east_1(module):
    fn = module["resource"]["aws_lambda_function"]["edge_shim"]
    assert fn["provider"] == "${aws.us_east_1}"
    assert re.fullmatch(r"nodejs(2[2-9]|[3-9]\d)\.x", fn["runtime"])
    assert fn["architectures"] == ["x86_64"] and fn["memory_size"] == 128 and fn["timeout"] == 5 and fn["publish"] is True
    assert "environment" not in fn
    role = module["resource"]["aws_iam_role"]["edge_shim"]
    assert role["provider"] == "${aws.us_east_1}"
    files = [s["filename"] for s in module["data"]["archive_file"]["edge_shim"]["source"]]
    assert files == ["index.mjs", "shim.mjs", "config.mjs"]


def test_rust_functions_are_arm64_al2023(module):
    for name in ("viewer_request", "issue_url"):
        fn = module["resource"]["aws_lambda_function"][name]
        assert fn["runtime"] == "provided.al2023" and fn["architectures"] == ["arm64"] and fn["handler"] == "bootstrap"
    env = module["resource"]["aws_lambda_function"]["issue_url"]["environment"][0]["variables"]
    assert set(env) >= {
        "ONCELINK_BUCKET", "ONCELINK_REGION", "ONCELINK_CDN_DOMAIN", "ONCELINK_DEFAULT_EXPIRES_SECS", "ONCELINK_MAX_EXPIRES_SECS",
        "ONCELINK_KEY_PREFIX", "ONCELINK_CORS_ORIGINS", "ONCELINK_MODE", "ONCELINK_SSM_PREFIX",
    }
    assert "ONCELINK_TABLE" not in env, "issue-url reads the table name from SSM, like the validator"
    env = module["resource"]["aws_lambda_function"]["viewer_request"]["environment"][0]["variables"]
    assert set(env) >= {"ONCELINK_SSM_PREFIX", "ONCELINK_HOME_REGION"}


def test_no_secret_in_terraform(module):
    types = {name: p["type"] for name, p in module["resource"]["aws_ssm_parameter"].items()}
    assert set(types.values()) == {"String"}, f"the key set must be created by keys-init, not by Terraform: {types}"
    assert "random_bytes" not in module["resource"] and "random_password" not in module["resource"]
    inv = module["resource"]["aws_lambda_invocation"]["key_set"]
    assert "ParameterName" in inv["input"] and '"keys"' not in inv["input"].replace("/keys", "")


def test_shim_on_viewer_request_and_origin_response(module):
    dist = module["resource"]["aws_cloudfront_distribution"]["this"]
    behavior = dist["default_cache_behavior"][0]
    assoc = behavior["lambda_function_association"]
    assert [a["event_type"] for a in assoc] == ["viewer-request", "origin-response"]
    # One published version on both events (publish = true makes qualified_arn a version ARN).
    assert {a["lambda_arn"] for a in assoc} == {"${aws_lambda_function.edge_shim.qualified_arn}"}
    assert module["resource"]["aws_lambda_function"]["edge_shim"]["publish"] is True
    assert assoc[0]["include_body"] is False
    assert not assoc[1].get("include_body", False), "response events take no body"
    assert "ordered_cache_behavior" not in dist, "no other behavior may bypass the triggers"


def test_edge_shim_may_invoke_only_the_validator(module):
    fn = module["resource"]["aws_lambda_function"]["edge_shim"]
    assert fn["role"] == "${aws_iam_role.edge_shim.arn}"
    attached = module["resource"]["aws_iam_role_policy"]["edge_shim"]
    assert attached["role"] == "${aws_iam_role.edge_shim.id}"
    assert attached["policy"] == "${data.aws_iam_policy_document.edge_shim.json}"
    doc = module["data"]["aws_iam_policy_document"]["edge_shim"]
    invoke = [st for st in doc["statement"] if "lambda:InvokeFunction" in st["actions"]]
    assert len(invoke) == 1 and invoke[0]["actions"] == ["lambda:InvokeFunction"]
    assert invoke[0]["resources"] == ["${aws_lambda_function.viewer_request.arn}"]
    assert "dynamic" not in doc


def test_link_header_is_forwarded_in_both_modes(module):
    locals_ = module["locals"]
    assert locals_["link_header"] == "x-oncelink-link"
    sealed = module["resource"]["aws_cloudfront_origin_request_policy"]["sealed"]
    assert "${local.link_header}" in sealed["headers_config"][0]["headers"][0]["items"]
    behavior = module["resource"]["aws_cloudfront_distribution"]["this"]["default_cache_behavior"][0]
    # sealed: the allow-list above; presigned: Managed-AllViewerExceptHostHeader (every viewer header).
    assert behavior["origin_request_policy_id"] == "${local.sealed ? aws_cloudfront_origin_request_policy.sealed[0].id : local.origin_request_all_viewer_but_host}"


def test_every_object_response_gets_nosniff_and_a_sandbox_csp(module):
    dist = module["resource"]["aws_cloudfront_distribution"]["this"]
    assert dist["default_cache_behavior"][0]["response_headers_policy_id"] == "${aws_cloudfront_response_headers_policy.security.id}"
    assert "ordered_cache_behavior" not in dist
    sec = module["resource"]["aws_cloudfront_response_headers_policy"]["security"]["security_headers_config"][0]
    assert sec["content_type_options"] == [{"override": True}], "X-Content-Type-Options: nosniff, over the origin's"
    csp = sec["content_security_policy"][0]
    assert csp["override"] is True
    directives = [d.strip() for d in csp["content_security_policy"].split(";")]
    assert "sandbox" in directives and "default-src 'none'" in directives, csp


def test_ledger_events_role_is_scoped(module):
    doc = module["data"]["aws_iam_policy_document"]["ledger_events"]
    by_sid = {st["sid"]: st for st in doc["statement"]}
    assert set(by_sid) == {"Logs", "ReadStream", "PublishEvents", "DeadLetter"}
    assert by_sid["ReadStream"]["resources"] == ["${aws_dynamodb_table.ledger.arn}/stream/*"]
    assert by_sid["PublishEvents"]["actions"] == ["events:PutEvents"] and by_sid["PublishEvents"]["resources"] == ["${local.event_bus_arn}"]
    assert {c["variable"] for c in by_sid["PublishEvents"]["condition"]} == {"events:source", "events:detail-type"}
    assert by_sid["DeadLetter"]["actions"] == ["sqs:SendMessage"] and by_sid["DeadLetter"]["resources"] == ["${aws_sqs_queue.ledger_events_dlq.arn}"]
    assert "dynamic" not in doc
    for st in doc["statement"]:
        assert all("*" not in a for a in st["actions"]) and "*" not in st["resources"]
    fn = module["resource"]["aws_lambda_function"]["ledger_events"]
    assert fn["runtime"] == "provided.al2023" and fn["architectures"] == ["arm64"] and fn["handler"] == "bootstrap"
    assert fn["filename"] == "${var.artifacts_dir}/ledger-events/bootstrap.zip"
    assert fn["environment"][0]["variables"]["ONCELINK_EVENT_BUS"] == "${local.event_bus_arn}"
    mapping = module["resource"]["aws_lambda_event_source_mapping"]["ledger_events"]
    assert mapping["event_source_arn"] == "${aws_dynamodb_table.ledger.stream_arn}"
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"] and mapping["bisect_batch_on_function_error"] is True
    assert 0 < mapping["maximum_retry_attempts"] <= 10 and 0 < mapping["maximum_record_age_in_seconds"] <= 86400
    assert mapping["depends_on"] == ["${aws_iam_role_policy.ledger_events}"]


def test_alarm_topics_and_actions(module):
    alarms = module["resource"]["aws_cloudwatch_metric_alarm"]
    for name, a in alarms.items():
        want = "${local.edge_actions}" if name == "edge_5xx" else "${local.home_actions}"
        assert a["alarm_actions"] == a["ok_actions"] == want, name
    assert module["resource"]["aws_sns_topic"]["edge_alarms"]["provider"] == "${aws.us_east_1}"
    assert module["resource"]["aws_kms_key"]["edge_alarms"]["provider"] == "${aws.us_east_1}"
    for t in module["resource"]["aws_sns_topic"].values():
        assert t["kms_master_key_id"].startswith("${aws_kms_key.")


def test_waf_allow_list_blocks_everyone_else(module):
    acl = module["resource"]["aws_wafv2_web_acl"]["rate_limit"]
    assert acl["count"] == "${local.waf_enabled ? 1 : 0}"
    assert acl["default_action"] == [{"allow": [{}]}]
    [allow] = [d["rule"] for d in acl["dynamic"] if d["rule"]["content"][0]["name"] == "not-in-allow-list"]
    rule = allow["content"][0]
    assert rule["action"] == [{"block": [{}]}]
    refs = rule["statement"][0]["not_statement"][0]["statement"][0]["or_statement"][0]["statement"]
    assert [r["ip_set_reference_statement"][0]["arn"] for r in refs] == ["${aws_wafv2_ip_set.allow_v4[0].arn}", "${aws_wafv2_ip_set.allow_v6[0].arn}"]
    dist = module["resource"]["aws_cloudfront_distribution"]["this"]
    assert dist["web_acl_id"] == "${local.waf_enabled ? aws_wafv2_web_acl.rate_limit[0].arn : null}"
