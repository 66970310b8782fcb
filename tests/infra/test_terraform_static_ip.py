"""Offline checks of infra/terraform/modules/oncelink-static-ip (the Fargate gateway behind an NLB
and Global Accelerator): what it creates, and that no secret can reach a plan or the state."""
import re

from conftest import STATIC_MODULE, TF, load_tf


def statements(module, doc):
    return {st["sid"]: st for st in module["data"]["aws_iam_policy_document"][doc]["statement"]}


def test_documents_every_variable_and_output(static_module):
    readme = (STATIC_MODULE / "README.md").read_text()
    for kind in ("variable", "output"):
        for name, body in static_module[kind].items():
            assert body.get("description"), f"{kind} {name} has no description"
            assert f"`{name}`" in readme, f"{kind} {name} missing from modules/oncelink-static-ip/README.md"


def test_required_outputs(static_module):
    assert {"public_url", "static_ips", "accelerator_dns_name", "table_name", "bucket_name", "api_token_secret_arn"} <= set(static_module["output"])
    assert static_module["output"]["public_url"]["value"] == "https://${var.domain_name}"


def test_no_secret_value_in_plan_or_state(static_module):
    text = "\n".join(p.read_text() for p in STATIC_MODULE.glob("*.tf"))
    resources = static_module["resource"]
    assert "aws_secretsmanager_secret_version" not in resources, "a secret version would put the value in the state"
    assert not any(t.startswith("random_") for t in resources), "random_* results live in the state"
    assert "secret_string" not in text and "ephemeral" not in text
    secret = resources["aws_secretsmanager_secret"]["this"]
    assert secret["for_each"] == "${local.secret_names}"
    assert secret["name"] == "oncelink/${var.deployment_name}/${each.key}"
    assert secret["kms_key_id"] == "${aws_kms_key.secrets.arn}"
    inv = resources["aws_lambda_invocation"]["secret_value"]
    assert inv["for_each"] == "${aws_secretsmanager_secret.this}"
    assert inv["lifecycle_scope"] == "CRUD"
    assert re.fullmatch(r"\$\{jsonencode\(\{\s*SecretId\s*=\s*each\.value\.arn\s*\}\)\}", inv["input"]), inv["input"]
    fn = resources["aws_lambda_function"]["secrets_init"]
    assert fn["runtime"] == "nodejs24.x" and fn["architectures"] == ["arm64"] and fn["handler"] == "index.handler"
    assert "environment" not in fn
    archive = static_module["data"]["archive_file"]["secrets_init"]
    assert archive["source_file"] == "${path.module}/../../../keys-init/index.mjs"
    # The tasks start only once the secrets hold a value.
    assert "${aws_lambda_invocation.secret_value}" in static_module["resource"]["aws_ecs_service"]["gateway"]["depends_on"]


def test_secrets_by_mode(static_module):
    locals_ = static_module["locals"]
    assert locals_["secret_env"] == {"api-token": "ONCELINK_API_TOKEN", "keys": "ONCELINK_KEYS"}
    assert locals_["secret_names"] == '${{for id, env in local.secret_env : id => env if local.sealed || id != "keys"}}'
    assert locals_["container"]["secrets"] == "${[for id, env in local.secret_names : {name = env, valueFrom = aws_secretsmanager_secret.this[id].arn}]}"


def test_task_is_fargate_arm64_read_only_with_data_volume(static_module):
    td = static_module["resource"]["aws_ecs_task_definition"]["gateway"]
    assert td["requires_compatibilities"] == ["FARGATE"] and td["network_mode"] == "awsvpc"
    assert td["runtime_platform"] == [{"cpu_architecture": "ARM64", "operating_system_family": "LINUX"}]
    assert td["volume"] == [{"name": "data"}]
    assert td["container_definitions"] == "${jsonencode([local.container])}"
    assert td["task_role_arn"] != td["execution_role_arn"]
    c = static_module["locals"]["container"]
    assert c["name"] == "gateway" and c["readonlyRootFilesystem"] is True and c["stopTimeout"] == 120
    assert c["image"] == "${var.image_repository_url}:${var.image_tag}"
    assert c["portMappings"] == [{"containerPort": 8787, "protocol": "tcp", "name": "http"}]
    assert c["mountPoints"] == [{"sourceVolume": "data", "containerPath": "/data", "readOnly": False}]
    assert c["logConfiguration"]["logDriver"] == "awslogs"
    assert c["logConfiguration"]["options"]["awslogs-group"] == "${aws_cloudwatch_log_group.gateway.name}"
    svc = static_module["resource"]["aws_ecs_service"]["gateway"]
    assert svc["launch_type"] == "FARGATE" and svc["platform_version"] == "LATEST"
    net = svc["network_configuration"][0]
    assert net["assign_public_ip"] is False and net["subnets"] == "${aws_subnet.tasks[*].id}"
    assert svc["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]


def test_environment_is_configuration_only(static_module):
    env = static_module["locals"]["environment"]
    for name, value in env.items():
        assert not re.search(r"secret|token|keys", name.lower().removeprefix("oncelink_").replace("trust_forwarded_for", "")), name
        assert "aws_secretsmanager" not in str(value), name
    assert env["ONCELINK_LEDGER"] == "dynamodb" and env["ONCELINK_ORIGIN_ENDPOINT"] == "aws"
    assert env["ONCELINK_TRUST_FORWARDED_FOR"] == "false"
    assert env["ONCELINK_RESUME_WINDOW"] == "${var.resume_window_secs}s"
    assert static_module["variable"]["resume_window_secs"]["default"] == 0


def test_network_isolated_tasks_public_nlb_no_nat(static_module):
    r = static_module["resource"]
    assert "aws_nat_gateway" not in r and "aws_eip" not in r
    routes = r["aws_route"]
    assert list(routes) == ["public_internet"]
    assert routes["public_internet"]["route_table_id"] == "${aws_route_table.public.id}"
    assert routes["public_internet"]["gateway_id"] == "${aws_internet_gateway.this.id}"
    assert "route" not in r["aws_route_table"]["tasks"], "the tasks' route table has no default route"
    assert r["aws_route_table_association"]["tasks"]["route_table_id"] == "${aws_route_table.tasks.id}"
    assert r["aws_subnet"]["public"]["map_public_ip_on_launch"] is False
    assert r["aws_lb"]["this"]["subnets"] == "${aws_subnet.public[*].id}"
    assert r["aws_flow_log"]["this"]["traffic_type"] == "ALL"
    assert r["aws_default_security_group"]["this"] == {"vpc_id": "${aws_vpc.this.id}"}, "the default SG admits nothing"


def test_security_group_rules(static_module):
    r = static_module["resource"]
    ingress = r["aws_vpc_security_group_ingress_rule"]
    egress = r["aws_vpc_security_group_egress_rule"]
    assert "ingress" not in r["aws_security_group"]["tasks"] and "egress" not in r["aws_security_group"]["tasks"]
    def peer(rule):
        return rule.get("cidr_ipv4") or rule.get("referenced_security_group_id") or rule.get("prefix_list_id")
    got = sorted((rule["security_group_id"], "in", rule["from_port"], rule["to_port"], peer(rule)) for rule in ingress.values())
    got += sorted((rule["security_group_id"], "out", rule["from_port"], rule["to_port"], peer(rule)) for rule in egress.values())
    nlb, tasks, endpoints = "${aws_security_group.nlb.id}", "${aws_security_group.tasks.id}", "${aws_security_group.endpoints.id}"
    assert sorted(got) == sorted([
        (nlb, "in", "${local.public_port}", "${local.public_port}", "0.0.0.0/0"),
        (tasks, "in", "${local.gateway_port}", "${local.gateway_port}", nlb),
        (endpoints, "in", 443, 443, tasks),
        (nlb, "out", "${local.gateway_port}", "${local.gateway_port}", tasks),
        (tasks, "out", 443, 443, endpoints),
        (tasks, "out", 443, 443, "${aws_vpc_endpoint.s3.prefix_list_id}"),
        (tasks, "out", 443, 443, "${aws_vpc_endpoint.dynamodb.prefix_list_id}"),
    ])
    for rule in list(ingress.values()) + list(egress.values()):
        assert rule["ip_protocol"] == "tcp" and rule.get("description")
    assert static_module["locals"]["gateway_port"] == 8787 and static_module["locals"]["public_port"] == 443


def test_endpoints(static_module):
    r = static_module["resource"]["aws_vpc_endpoint"]
    assert r["s3"]["vpc_endpoint_type"] == "Gateway" and r["dynamodb"]["vpc_endpoint_type"] == "Gateway"
    assert r["s3"]["route_table_ids"] == ["${aws_route_table.tasks.id}"] == r["dynamodb"]["route_table_ids"]
    assert r["interface"]["for_each"] == '${toset(["ecr.api", "ecr.dkr", "logs", "secretsmanager"])}'
    assert r["interface"]["private_dns_enabled"] is True
    assert r["interface"]["security_group_ids"] == ["${aws_security_group.endpoints.id}"]
    s3 = statements(static_module, "s3_endpoint")
    assert s3["EcrImageLayers"]["actions"] == ["s3:GetObject"]
    assert s3["EcrImageLayers"]["resources"] == ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]
    assert s3["Objects"]["principals"][0]["identifiers"] == ["${aws_iam_role.task.arn}"]
    ddb = statements(static_module, "dynamodb_endpoint")
    assert ddb["Ledger"]["actions"] == "${local.ledger_actions}" and ddb["Ledger"]["principals"][0]["identifiers"] == ["${aws_iam_role.task.arn}"]
    assert static_module["locals"]["ledger_actions"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]


def test_bucket_admits_the_task_role_only_through_the_endpoint(static_module):
    sts = statements(static_module, "bucket")
    allow, deny = sts["GatewayThroughEndpoint"], sts["GatewayRoleOnlyThroughEndpoint"]
    assert allow["effect"] == "Allow" and allow["principals"][0]["identifiers"] == ["${aws_iam_role.task.arn}"]
    assert allow["condition"] == [{"test": "StringEquals", "variable": "aws:SourceVpce", "values": ["${aws_vpc_endpoint.s3.id}"]}]
    assert deny["effect"] == "Deny" and deny["principals"][0]["identifiers"] == ["*"]
    assert {(c["test"], c["variable"]) for c in deny["condition"]} == {("StringNotEquals", "aws:SourceVpce"), ("ArnEquals", "aws:PrincipalArn")}
    assert sts["TlsOnly"]["effect"] == "Deny"
    assert [s["effect"] for s in sts.values()].count("Allow") == 1


def test_load_balancer_and_accelerator(static_module):
    r = static_module["resource"]
    lb = r["aws_lb"]["this"]
    assert lb["load_balancer_type"] == "network" and lb["internal"] is False and lb["security_groups"] == ["${aws_security_group.nlb.id}"]
    listener = r["aws_lb_listener"]["tls"]
    assert listener["protocol"] == "TLS" and listener["port"] == "${local.public_port}"
    assert listener["certificate_arn"] == "${var.acm_certificate_arn}"
    assert listener["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06" and listener["alpn_policy"] == "HTTP1Only"
    tg = r["aws_lb_target_group"]["gateway"]
    assert (tg["protocol"], tg["target_type"], tg["port"], tg["preserve_client_ip"]) == ("TCP", "ip", "${local.gateway_port}", "false")
    hc = tg["health_check"][0]
    assert (hc["protocol"], hc["path"], hc["matcher"]) == ("HTTP", "${local.health_path}", "200")
    assert static_module["locals"]["health_path"] == "/_oncelink/healthz"
    ep = r["aws_globalaccelerator_endpoint_group"]["this"]["endpoint_configuration"][0]
    assert ep["endpoint_id"] == "${aws_lb.this.arn}" and ep["client_ip_preservation_enabled"] is False
    assert r["aws_globalaccelerator_accelerator"]["this"]["ip_address_type"] == "IPV4"
    gl = r["aws_globalaccelerator_listener"]["this"]
    assert gl["protocol"] == "TCP" and gl["port_range"] == [{"from_port": "${local.public_port}", "to_port": "${local.public_port}"}]
    alias = r["aws_route53_record"]["alias"]
    assert alias["count"] == "${var.route53_zone_id == null ? 0 : 1}" and alias["type"] == "A"
    assert alias["alias"][0]["name"] == "${aws_globalaccelerator_accelerator.this.dns_name}"


def test_least_privilege(static_module):
    docs = static_module["data"]["aws_iam_policy_document"]
    star = set()
    for name in ("task", "execution", "secrets_init", "flow_logs"):
        for st in docs[name]["statement"]:
            for a in st["actions"]:
                assert "*" not in a, f"{name}: {a}"
            if "*" in st["resources"]:
                star.update(st["actions"])
    assert star == {"ecr:GetAuthorizationToken"}
    execution = {st["sid"]: st for st in docs["execution"]["statement"]}
    assert execution["PullImage"]["resources"] == ["${local.repository_arn}"]
    assert execution["DecryptSecrets"]["condition"][0]["values"] == ["secretsmanager.${local.region}.amazonaws.com"]
    task = {st["sid"]: st for st in docs["task"]["statement"]}
    assert task["Objects"]["condition"][0]["variable"] == "aws:SourceVpce"


def test_ledger_is_the_table_of_the_cloudfront_module(static_module, module):
    # The CloudFront module's table also streams its changes to ledger-events; the gateway's has none.
    theirs = dict(module["resource"]["aws_dynamodb_table"]["ledger"])
    assert (theirs.pop("stream_enabled"), theirs.pop("stream_view_type")) == (True, "NEW_AND_OLD_IMAGES")
    assert static_module["resource"]["aws_dynamodb_table"]["ledger"] == theirs


def test_example_uses_the_module():
    example = load_tf(TF / "examples" / "static-ip" / "main.tf")
    [block] = example["module"]
    body = block["oncelink"]
    assert body["source"] == "../../modules/oncelink-static-ip"
    required = {"deployment_name", "domain_name", "acm_certificate_arn", "image_repository_url", "image_tag"}
    assert required <= set(body)
