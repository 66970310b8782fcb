# The gateway: ECS Fargate (arm64) tasks behind an NLB (TLS with the ACM certificate, plain HTTP
# to the tasks), Global Accelerator in front (two static IPs), autoscaling on CPU.

resource "aws_cloudwatch_log_group" "gateway" {
  #checkov:skip=CKV_AWS_158:The gateway's lines carry decisions, statuses and request ids, never a query string (the link), a header value or a secret; service-managed encryption suffices.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "this" {
  name = local.cluster_name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "gateway" {
  family                   = local.family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_cpu)
  memory                   = tostring(var.task_memory)
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    cpu_architecture        = "ARM64"
    operating_system_family = "LINUX"
  }

  volume {
    name = "data"
  }

  container_definitions = jsonencode([local.container])
}

resource "aws_ecs_service" "gateway" {
  name                               = local.service_name
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.gateway.arn
  desired_count                      = var.min_tasks
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = aws_subnet.tasks[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.gateway.arn
    container_name   = local.container_name
    container_port   = local.gateway_port
  }

  lifecycle {
    ignore_changes = [desired_count] # the autoscaling owns it after the first apply
  }

  # Tasks start after the secrets hold a value and the listener exists.
  depends_on = [aws_lambda_invocation.secret_value, aws_lb_listener.tls, aws_iam_role_policy.task, aws_iam_role_policy.execution]
}

# ---- NLB ------------------------------------------------------------------------------------
resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:The gateway writes one access line per request (request id, decision, status, settled use) to CloudWatch Logs; NLB access logs would need a second bucket and hold only connection data.
  #checkov:skip=CKV_AWS_150:The load balancer holds no state; the static IPs belong to the accelerator. Deletion protection would block a deliberate terraform destroy.
  name                             = local.nlb_name
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  security_groups                  = [aws_security_group.nlb.id]
  enable_cross_zone_load_balancing = true
}

resource "aws_lb_target_group" "gateway" {
  name                 = local.target_group_name
  vpc_id               = aws_vpc.this.id
  port                 = local.gateway_port
  protocol             = "TCP"
  target_type          = "ip"
  preserve_client_ip   = "false" # the NLB's own address is the source: the task SG admits the NLB's SG only
  deregistration_delay = "30"

  health_check {
    protocol            = "HTTP"
    path                = local.health_path
    port                = tostring(local.gateway_port)
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "tls" {
  load_balancer_arn = aws_lb.this.arn
  port              = local.public_port
  protocol          = "TLS"
  certificate_arn   = var.acm_certificate_arn
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  alpn_policy       = "HTTP1Only"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.gateway.arn
  }
}

# ---- autoscaling on CPU ---------------------------------------------------------------------
resource "aws_appautoscaling_target" "gateway" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.gateway.name}"
  min_capacity       = var.min_tasks
  max_capacity       = var.max_tasks
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "oncelink-${var.deployment_name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.gateway.service_namespace
  scalable_dimension = aws_appautoscaling_target.gateway.scalable_dimension
  resource_id        = aws_appautoscaling_target.gateway.resource_id

  target_tracking_scaling_policy_configuration {
    target_value = var.cpu_target_percent
    # Scale in slowly: a stopped task drains its downloads for up to ONCELINK_SHUTDOWN_TIMEOUT.
    scale_in_cooldown  = 300
    scale_out_cooldown = 60
    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ---- Global Accelerator: the two static IPs -------------------------------------------------
resource "aws_globalaccelerator_accelerator" "this" {
  #checkov:skip=CKV_AWS_75:Flow logs of the accelerator need an S3 bucket; the VPC flow logs and the gateway's access lines cover the same connections.
  name            = local.accelerator_name
  ip_address_type = "IPV4"
  enabled         = true
}

resource "aws_globalaccelerator_listener" "this" {
  accelerator_arn = aws_globalaccelerator_accelerator.this.id
  protocol        = "TCP"
  client_affinity = "NONE"
  port_range {
    from_port = local.public_port
    to_port   = local.public_port
  }
}

resource "aws_globalaccelerator_endpoint_group" "this" {
  listener_arn          = aws_globalaccelerator_listener.this.id
  endpoint_group_region = local.region
  endpoint_configuration {
    endpoint_id = aws_lb.this.arn
    # Not supported for an NLB with a TLS listener (Global Accelerator API reference).
    client_ip_preservation_enabled = false
  }
}

resource "aws_route53_record" "alias" {
  count   = var.route53_zone_id == null ? 0 : 1
  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"
  alias {
    name                   = aws_globalaccelerator_accelerator.this.dns_name
    zone_id                = aws_globalaccelerator_accelerator.this.hosted_zone_id
    evaluate_target_health = false
  }
}
