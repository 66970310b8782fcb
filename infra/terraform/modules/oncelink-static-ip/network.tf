# The VPC: two public subnets (the NLB only) and two isolated ones (the tasks), no NAT. The
# tasks reach AWS only through VPC endpoints; their subnets have no route to the internet.

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # private DNS of the interface endpoints
  tags                 = { Name = "oncelink-${var.deployment_name}" }
}

# Nothing uses the default security group; it admits and sends nothing.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "oncelink-${var.deployment_name}" }
}

resource "aws_subnet" "public" {
  count                   = 2
  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, count.index)
  map_public_ip_on_launch = false
  tags                    = { Name = "oncelink-${var.deployment_name}-public-${count.index + 1}" }
}

resource "aws_subnet" "tasks" {
  count             = 2
  vpc_id            = aws_vpc.this.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 8, count.index + 2)
  tags              = { Name = "oncelink-${var.deployment_name}-tasks-${count.index + 1}" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "oncelink-${var.deployment_name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = 2
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# The tasks' route table: no default route; the gateway endpoints add S3 and DynamoDB.
resource "aws_route_table" "tasks" {
  vpc_id = aws_vpc.this.id
  tags   = { Name = "oncelink-${var.deployment_name}-tasks" }
}

resource "aws_route_table_association" "tasks" {
  count          = 2
  subnet_id      = aws_subnet.tasks[count.index].id
  route_table_id = aws_route_table.tasks.id
}

# ---- flow logs ----------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_158:Flow logs hold addresses and ports only; service-managed encryption suffices and avoids a key policy for logs.
  name              = "/vpc/oncelink-${var.deployment_name}-flow-logs"
  retention_in_days = var.log_retention_days
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn         = aws_iam_role.flow_logs.arn
}

# ---- security groups ----------------------------------------------------------------------
resource "aws_security_group" "nlb" {
  name        = "oncelink-${var.deployment_name}-nlb"
  description = "oncelink ${var.deployment_name}: the NLB (TLS 443 in, the gateway port out)"
  vpc_id      = aws_vpc.this.id
}

resource "aws_security_group" "tasks" {
  name        = "oncelink-${var.deployment_name}-tasks"
  description = "oncelink ${var.deployment_name}: the gateway tasks (8787 from the NLB only; HTTPS to VPC endpoints only)"
  vpc_id      = aws_vpc.this.id
}

resource "aws_security_group" "endpoints" {
  name        = "oncelink-${var.deployment_name}-endpoints"
  description = "oncelink ${var.deployment_name}: interface VPC endpoints (HTTPS from the gateway tasks only)"
  vpc_id      = aws_vpc.this.id
}

# Global Accelerator cannot preserve the client IP for an NLB with a TLS listener, so the NLB
# sees Global Accelerator's edge addresses; AWS publishes no managed prefix list of them.
resource "aws_vpc_security_group_ingress_rule" "nlb_tls" {
  security_group_id = aws_security_group.nlb.id
  description       = "TLS from Global Accelerator (sources are its edge addresses)"
  ip_protocol       = "tcp"
  from_port         = local.public_port
  to_port           = local.public_port
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "nlb_to_tasks" {
  security_group_id            = aws_security_group.nlb.id
  description                  = "to the gateway tasks (traffic and health checks)"
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_nlb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "the gateway port, from the NLB only"
  ip_protocol                  = "tcp"
  from_port                    = local.gateway_port
  to_port                      = local.gateway_port
  referenced_security_group_id = aws_security_group.nlb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_endpoints" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "ECR, CloudWatch Logs, Secrets Manager interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_s3" {
  security_group_id = aws_security_group.tasks.id
  description       = "S3 through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_dynamodb" {
  security_group_id = aws_security_group.tasks.id
  description       = "DynamoDB through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.dynamodb.prefix_list_id
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_tasks" {
  security_group_id            = aws_security_group.endpoints.id
  description                  = "HTTPS from the gateway tasks"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.tasks.id
}

# ---- VPC endpoints ------------------------------------------------------------------------
# Gateway endpoints with policies that name exactly what the gateway may reach through them:
# S3 for the objects and the ECR image layers, DynamoDB for the ledger.
data "aws_iam_policy_document" "s3_endpoint" {
  #checkov:skip=CKV_AWS_283:ECR's image layers are fetched with URLs ECR presigns, not as a principal of this account, so that one statement must name any principal; it is GetObject on ECR's layer bucket only. The objects statement names the task role.
  statement {
    sid       = "EcrImageLayers"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }
  }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.tasks.id]
  policy            = data.aws_iam_policy_document.s3_endpoint.json
}

data "aws_iam_policy_document" "dynamodb_endpoint" {
  statement {
    sid       = "Ledger"
    actions   = local.ledger_actions
    resources = [aws_dynamodb_table.ledger.arn]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }
  }
}

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.tasks.id]
  policy            = data.aws_iam_policy_document.dynamodb_endpoint.json
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(["ecr.api", "ecr.dkr", "logs", "secretsmanager"])
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.tasks[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
}
