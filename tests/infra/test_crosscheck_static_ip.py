"""The static-IP deployment, CDK (OnceLinkStaticIp, the sample app with -c deployment=static-ip)
against Terraform (modules/oncelink-static-ip), per mode: the same names, the same container
environment and secrets, the same ports and health check, the same security group rules and
endpoints, the same IAM actions per role, the same ledger table."""
import re

import pytest

REGION = "eu-west-1"  # the sample app's default region
DOMAIN = "files.example.com"  # the sample app's default domain

# role in CDK (logical id prefix) -> policy document in Terraform
ROLES = {
    "task": "OnceLinkStaticIpTaskRole",
    "execution": "OnceLinkStaticIpExecutionRole",
    "secrets_init": "OnceLinkStaticIpSecretsInitRole",
    "flow_logs": "OnceLinkStaticIpVpcallIAMRole",
}


def as_list(x):
    return x if isinstance(x, list) else [x]


def resources(template, rtype):
    return {rid: r for rid, r in template["Resources"].items() if r["Type"] == rtype}


def one(template, rtype):
    found = list(resources(template, rtype).values())
    assert len(found) == 1, rtype
    return found[0]["Properties"]


def tf_value(module, mode, value):
    """Evaluates the plain interpolations the module's literals use, with the sample app's inputs."""
    if not isinstance(value, str):
        return value
    inputs = {"domain_name": DOMAIN, "mode": mode, "deployment_name": "demo"}
    def sub(m):
        ref = m.group(1)
        if ref.startswith("var."):
            name = ref.removeprefix("var.")
            return str(inputs.get(name, module["variable"][name].get("default")))
        if ref == "local.region":
            return REGION
        return m.group(0)
    return re.sub(r"\$\{([a-z_.]+)\}", sub, value)


def cdk_container(template):
    return one(template, "AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]


def cdk_role_actions(template, prefix):
    roles = [rid for rid in resources(template, "AWS::IAM::Role") if rid.startswith(prefix)]
    assert len(roles) == 1, (prefix, roles)
    actions = set()
    for p in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": roles[0]} in p["Properties"]["Roles"]:
            for st in p["Properties"]["PolicyDocument"]["Statement"]:
                actions.update(as_list(st["Action"]))
    return actions


def tf_role_actions(module, name):
    doc = module["data"]["aws_iam_policy_document"][name]
    actions = set()
    for st in doc["statement"]:
        acts = st["actions"]
        if acts == "${local.ledger_actions}":
            acts = module["locals"]["ledger_actions"]
        actions.update(acts)
    return actions


def test_names(cdk_static, static_module):
    _, t = cdk_static
    locals_ = static_module["locals"]
    pairs = [
        (one(t, "AWS::ECS::Cluster")["ClusterName"], locals_["cluster_name"]),
        (one(t, "AWS::ECS::Service")["ServiceName"], locals_["service_name"]),
        (one(t, "AWS::ECS::TaskDefinition")["Family"], locals_["family"]),
        (cdk_container(t)["Name"], locals_["container_name"]),
        (one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Name"], locals_["nlb_name"]),
        (one(t, "AWS::ElasticLoadBalancingV2::TargetGroup")["Name"], locals_["target_group_name"]),
        (one(t, "AWS::GlobalAccelerator::Accelerator")["Name"], locals_["accelerator_name"]),
        (one(t, "AWS::DynamoDB::Table")["TableName"], static_module["resource"]["aws_dynamodb_table"]["ledger"]["name"]),
    ]
    for cdk_name, tf_name in pairs:
        assert cdk_name == tf_value(static_module, "sealed", tf_name), (cdk_name, tf_name)
    logs = {r["Properties"]["LogGroupName"] for r in resources(t, "AWS::Logs::LogGroup").values()}
    tf_logs = {tf_value(static_module, "sealed", locals_["log_group_name"]),
               tf_value(static_module, "sealed", static_module["resource"]["aws_cloudwatch_log_group"]["flow_logs"]["name"]),
               tf_value(static_module, "sealed", static_module["resource"]["aws_cloudwatch_log_group"]["secrets_init"]["name"].replace("${local.secrets_init_name}", locals_["secrets_init_name"]))}
    assert logs == tf_logs == {"/ecs/oncelink-demo-gateway", "/vpc/oncelink-demo-flow-logs", "/aws/lambda/oncelink-demo-secrets-init"}
    fns = {r["Properties"].get("FunctionName") for r in resources(t, "AWS::Lambda::Function").values()} - {None}
    assert fns == {tf_value(static_module, "sealed", locals_["secrets_init_name"])}
    sgs = {r["Properties"]["GroupName"] for r in resources(t, "AWS::EC2::SecurityGroup").values()}
    assert sgs == {tf_value(static_module, "sealed", sg["name"]) for sg in static_module["resource"]["aws_security_group"].values()}


def test_ledger_table(cdk_static, static_module):
    _, t = cdk_static
    table = one(t, "AWS::DynamoDB::Table")
    tf = static_module["resource"]["aws_dynamodb_table"]["ledger"]
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [(tf["hash_key"], "HASH")] == [("pk", "HASH")]
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {(a["name"], a["type"]) for a in tf["attribute"]} == {("pk", "S")}
    assert table["TimeToLiveSpecification"] == {"AttributeName": tf["ttl"][0]["attribute_name"], "Enabled": True}
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True is tf["point_in_time_recovery"][0]["enabled"]
    assert table["SSESpecification"]["SSEEnabled"] is True is tf["server_side_encryption"][0]["enabled"]
    assert table["BillingMode"] == tf["billing_mode"] == "PAY_PER_REQUEST"


def test_container_environment(cdk_static, static_module):
    mode, t = cdk_static
    cdk_env = {e["Name"]: e["Value"] for e in cdk_container(t)["Environment"]}
    tf_env = static_module["locals"]["environment"]
    assert set(cdk_env) == set(tf_env)
    # References: the table and the bucket of each tool.
    assert cdk_env.pop("ONCELINK_TABLE") == {"Ref": next(iter(resources(t, "AWS::DynamoDB::Table")))}
    assert tf_env["ONCELINK_TABLE"] == "${aws_dynamodb_table.ledger.name}"
    assert cdk_env.pop("ONCELINK_BUCKET") == {"Ref": next(iter(resources(t, "AWS::S3::Bucket")))}
    assert tf_env["ONCELINK_BUCKET"] == "${local.bucket_name}"
    for name, value in cdk_env.items():
        assert value == tf_value(static_module, mode, tf_env[name]), name
    assert cdk_env["ONCELINK_PUBLIC_URL"] == f"https://{DOMAIN}" and cdk_env["ONCELINK_MODE"] == mode


def test_container_secrets_and_secret_names(cdk_static, static_module):
    mode, t = cdk_static
    container = cdk_container(t)
    by_id = {rid: r["Properties"]["Name"] for rid, r in resources(t, "AWS::SecretsManager::Secret").items()}
    cdk_secrets = {s["Name"]: by_id[s["ValueFrom"]["Ref"]] for s in container["Secrets"]}
    env_of = static_module["locals"]["secret_env"]
    tf_ids = [i for i in env_of if mode == "sealed" or i != "keys"]
    tf_name = static_module["resource"]["aws_secretsmanager_secret"]["this"]["name"]
    tf_secrets = {env_of[i]: tf_value(static_module, mode, tf_name).replace("${each.key}", i) for i in tf_ids}
    assert cdk_secrets == tf_secrets
    assert set(cdk_secrets) == ({"ONCELINK_API_TOKEN", "ONCELINK_KEYS"} if mode == "sealed" else {"ONCELINK_API_TOKEN"})
    assert len(resources(t, "Custom::OnceLinkSecretValue")) == len(tf_ids)


def test_task_shape(cdk_static, static_module):
    _, t = cdk_static
    td = one(t, "AWS::ECS::TaskDefinition")
    tf = static_module["resource"]["aws_ecs_task_definition"]["gateway"]
    c, tc = cdk_container(t), static_module["locals"]["container"]
    assert td["RuntimePlatform"] == {"CpuArchitecture": tf["runtime_platform"][0]["cpu_architecture"], "OperatingSystemFamily": tf["runtime_platform"][0]["operating_system_family"]}
    assert td["RequiresCompatibilities"] == tf["requires_compatibilities"] and td["NetworkMode"] == tf["network_mode"]
    assert (td["Cpu"], td["Memory"]) == (str(static_module["variable"]["task_cpu"]["default"]), str(static_module["variable"]["task_memory"]["default"]))
    assert td["Volumes"] == [{"Name": v["name"]} for v in tf["volume"]]
    assert c["ReadonlyRootFilesystem"] is tc["readonlyRootFilesystem"] is True
    assert c["StopTimeout"] == tc["stopTimeout"]
    assert [(p["ContainerPort"], p["Protocol"], p["Name"]) for p in c["PortMappings"]] == [(p["containerPort"], p["protocol"], p["name"]) for p in tc["portMappings"]]
    assert [(m["SourceVolume"], m["ContainerPath"], m["ReadOnly"]) for m in c["MountPoints"]] == [(m["sourceVolume"], m["containerPath"], m["readOnly"]) for m in tc["mountPoints"]]
    assert c["LogConfiguration"]["LogDriver"] == tc["logConfiguration"]["logDriver"]
    assert c["LogConfiguration"]["Options"]["awslogs-stream-prefix"] == tc["logConfiguration"]["options"]["awslogs-stream-prefix"]


def test_ports_health_check_and_client_ip(cdk_static, static_module):
    _, t = cdk_static
    r, locals_ = static_module["resource"], static_module["locals"]
    v = lambda x: locals_[x.removeprefix("${local.").removesuffix("}")] if isinstance(x, str) and x.startswith("${local.") else x  # noqa: E731
    tg, tf_tg = one(t, "AWS::ElasticLoadBalancingV2::TargetGroup"), r["aws_lb_target_group"]["gateway"]
    hc = tf_tg["health_check"][0]
    assert (tg["Port"], tg["Protocol"], tg["TargetType"]) == (v(tf_tg["port"]), tf_tg["protocol"], tf_tg["target_type"]) == (8787, "TCP", "ip")
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"], tg["HealthCheckPort"], tg["Matcher"]["HttpCode"]) == (hc["protocol"], v(hc["path"]), tf_value(static_module, "sealed", hc["port"]).replace("${tostring(local.gateway_port)}", "8787"), hc["matcher"])
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (hc["interval"], hc["healthy_threshold"], hc["unhealthy_threshold"])
    attrs = {a["Key"]: a["Value"] for a in tg["TargetGroupAttributes"]}
    assert attrs["preserve_client_ip.enabled"] == tf_tg["preserve_client_ip"] == "false"
    assert attrs["deregistration_delay.timeout_seconds"] == tf_tg["deregistration_delay"]
    listener, tf_l = one(t, "AWS::ElasticLoadBalancingV2::Listener"), r["aws_lb_listener"]["tls"]
    assert (listener["Port"], listener["Protocol"], listener["SslPolicy"], listener["AlpnPolicy"]) == (v(tf_l["port"]), tf_l["protocol"], tf_l["ssl_policy"], [tf_l["alpn_policy"]])
    ga_l, tf_gl = one(t, "AWS::GlobalAccelerator::Listener"), r["aws_globalaccelerator_listener"]["this"]
    assert ga_l["Protocol"] == tf_gl["protocol"] == "TCP"
    assert ga_l["PortRanges"] == [{"FromPort": v(p["from_port"]), "ToPort": v(p["to_port"])} for p in tf_gl["port_range"]] == [{"FromPort": 443, "ToPort": 443}]
    assert ga_l["ClientAffinity"] == tf_gl["client_affinity"]
    [ep] = one(t, "AWS::GlobalAccelerator::EndpointGroup")["EndpointConfigurations"]
    assert ep["ClientIPPreservationEnabled"] is r["aws_globalaccelerator_endpoint_group"]["this"]["endpoint_configuration"][0]["client_ip_preservation_enabled"] is False
    assert one(t, "AWS::GlobalAccelerator::Accelerator")["IpAddressType"] == r["aws_globalaccelerator_accelerator"]["this"]["ip_address_type"] == "IPV4"
    assert one(t, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == ("internal" if r["aws_lb"]["this"]["internal"] else "internet-facing")
    assert cdk_container(t)["PortMappings"][0]["ContainerPort"] == locals_["gateway_port"]


def sg_key(value, names):
    """A security group reference in either tool -> its role name (nlb, tasks, endpoints), or the peer itself."""
    text = str(value)
    for name, needle in names.items():
        if needle in text:
            return name
    return text


def test_security_group_rules(cdk_static, static_module):
    _, t = cdk_static
    cdk_names = {"nlb": "NlbSecurityGroup", "tasks": "TaskSecurityGroup", "endpoints": "EndpointSecurityGroup", "s3": "S3PrefixList", "dynamodb": "DynamoDbPrefixList"}
    tf_names = {"nlb": "aws_security_group.nlb", "tasks": "aws_security_group.tasks", "endpoints": "aws_security_group.endpoints", "s3": "aws_vpc_endpoint.s3", "dynamodb": "aws_vpc_endpoint.dynamodb"}
    locals_ = static_module["locals"]
    port = lambda p: locals_[p[8:-1]] if isinstance(p, str) and p.startswith("${local.") else p  # noqa: E731
    cdk_rules = set()
    for rid, r in resources(t, "AWS::EC2::SecurityGroup").items():
        for rule in r["Properties"].get("SecurityGroupIngress", []):
            cdk_rules.add((sg_key(rid, cdk_names), "in", rule["FromPort"], rule["ToPort"], rule["CidrIp"]))
        for rule in r["Properties"].get("SecurityGroupEgress", []):
            assert rule["CidrIp"] == "255.255.255.255/32", "CDK's no-egress marker only"
    for r in resources(t, "AWS::EC2::SecurityGroupIngress").values():
        p = r["Properties"]
        cdk_rules.add((sg_key(p["GroupId"], cdk_names), "in", p["FromPort"], p["ToPort"], sg_key(p.get("SourceSecurityGroupId") or p.get("CidrIp"), cdk_names)))
    for r in resources(t, "AWS::EC2::SecurityGroupEgress").values():
        p = r["Properties"]
        cdk_rules.add((sg_key(p["GroupId"], cdk_names), "out", p["FromPort"], p["ToPort"], sg_key(p.get("DestinationSecurityGroupId") or p.get("DestinationPrefixListId"), cdk_names)))
    tf_rules = set()
    for kind, direction in (("aws_vpc_security_group_ingress_rule", "in"), ("aws_vpc_security_group_egress_rule", "out")):
        for rule in static_module["resource"][kind].values():
            peer = rule.get("cidr_ipv4") or rule.get("referenced_security_group_id") or rule.get("prefix_list_id")
            tf_rules.add((sg_key(rule["security_group_id"], tf_names), direction, port(rule["from_port"]), port(rule["to_port"]), sg_key(peer, tf_names)))
    assert cdk_rules == tf_rules
    assert ("nlb", "in", 443, 443, "0.0.0.0/0") in cdk_rules and ("tasks", "in", 8787, 8787, "nlb") in cdk_rules
    assert [r for r in cdk_rules if r[0] == "tasks" and r[1] == "in"] == [("tasks", "in", 8787, 8787, "nlb")]


def test_vpc_endpoints(cdk_static, static_module):
    _, t = cdk_static
    def cdk_name(p):
        n = p["ServiceName"]
        return n if isinstance(n, str) else "".join(x if isinstance(x, str) else REGION for x in n["Fn::Join"][1])
    cdk = {cdk_name(r["Properties"]).removeprefix(f"com.amazonaws.{REGION}."): r["Properties"] for r in resources(t, "AWS::EC2::VPCEndpoint").values()}
    tf_endpoints = static_module["resource"]["aws_vpc_endpoint"]
    interface = re.findall(r'"([a-z.]+)"', tf_endpoints["interface"]["for_each"])
    assert set(cdk) == {"s3", "dynamodb", *interface}
    for svc in ("s3", "dynamodb"):
        assert cdk[svc]["VpcEndpointType"] == tf_endpoints[svc]["vpc_endpoint_type"] == "Gateway"
        cdk_sts = {s["Sid"]: sorted(as_list(s["Action"])) for s in cdk[svc]["PolicyDocument"]["Statement"]}
        tf_sts = {}
        for st in static_module["data"]["aws_iam_policy_document"][f"{svc}_endpoint"]["statement"]:
            acts = static_module["locals"]["ledger_actions"] if st["actions"] == "${local.ledger_actions}" else st["actions"]
            tf_sts[st["sid"]] = sorted(acts)
        assert cdk_sts == tf_sts, svc
    for svc in interface:
        assert cdk[svc]["VpcEndpointType"] == "Interface" and cdk[svc]["PrivateDnsEnabled"] is tf_endpoints["interface"]["private_dns_enabled"] is True


def test_bucket_policy(cdk_static, static_module):
    _, t = cdk_static
    cdk = {s.get("Sid"): (s["Effect"], sorted(as_list(s["Action"])), sorted((k, kk) for k, v in s.get("Condition", {}).items() for kk in v))
           for s in one(t, "AWS::S3::BucketPolicy")["PolicyDocument"]["Statement"] if s.get("Sid")}
    tf = {s["sid"]: (s["effect"], sorted(s["actions"]), sorted((c["test"], c["variable"]) for c in s.get("condition", [])))
          for s in static_module["data"]["aws_iam_policy_document"]["bucket"]["statement"] if s["sid"].startswith("Gateway")}
    assert cdk == tf
    assert set(cdk) == {"GatewayThroughEndpoint", "GatewayRoleOnlyThroughEndpoint"}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_iam_actions_per_role(cdk_static, static_module, role):
    mode, t = cdk_static
    cdk_actions, tf_actions = cdk_role_actions(t, ROLES[role]), tf_role_actions(static_module, role)
    assert cdk_actions == tf_actions, f"{mode} {role}: CDK {sorted(cdk_actions)} vs Terraform {sorted(tf_actions)}"
    assert not any("*" in a for a in cdk_actions)


def test_autoscaling(cdk_static, static_module):
    _, t = cdk_static
    target, policy = one(t, "AWS::ApplicationAutoScaling::ScalableTarget"), one(t, "AWS::ApplicationAutoScaling::ScalingPolicy")
    tf_t, tf_p = static_module["resource"]["aws_appautoscaling_target"]["gateway"], static_module["resource"]["aws_appautoscaling_policy"]["cpu"]
    var = static_module["variable"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (var["min_tasks"]["default"], var["max_tasks"]["default"])
    assert target["ScalableDimension"] == tf_t["scalable_dimension"] and target["ServiceNamespace"] == tf_t["service_namespace"]
    cfg, tf_cfg = policy["TargetTrackingScalingPolicyConfiguration"], tf_p["target_tracking_scaling_policy_configuration"][0]
    assert cfg["TargetValue"] == var["cpu_target_percent"]["default"]
    assert cfg["PredefinedMetricSpecification"]["PredefinedMetricType"] == tf_cfg["predefined_metric_specification"][0]["predefined_metric_type"]
    assert (cfg["ScaleInCooldown"], cfg["ScaleOutCooldown"]) == (tf_cfg["scale_in_cooldown"], tf_cfg["scale_out_cooldown"])
    assert policy["PolicyType"] == tf_p["policy_type"] == "TargetTrackingScaling"
