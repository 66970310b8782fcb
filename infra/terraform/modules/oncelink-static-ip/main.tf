# oncelink-static-ip: the oncelink gateway on ECS Fargate (arm64) behind a Network Load Balancer
# (TLS, ACM) with Global Accelerator in front: two static IPv4 addresses and one domain. The same
# resources, names and policies as the CDK construct (infra/cdk/lib/static-ip.ts);
# tests/infra/test_crosscheck_static_ip.py keeps the two in step.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zone names in sorted order are used (or the two in var.availability_zones): a zone AWS adds later sorts after them and changes nothing.
  state = "available"
}

locals {
  name        = var.deployment_name
  sealed      = var.mode == "sealed"
  account     = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  azs         = var.availability_zones != null ? var.availability_zones : slice(sort(data.aws_availability_zones.available.names), 0, 2)
  own_bucket  = var.bucket_name == null
  bucket_name = local.own_bucket ? aws_s3_bucket.this[0].id : var.bucket_name
  bucket_arn  = "arn:${local.partition}:s3:::${local.bucket_name}"

  # The ECR repository from its URL: pull rights on exactly this repository.
  image_parts    = regex("^(\\d{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/(.+)$", var.image_repository_url)
  repository_arn = "arn:${local.partition}:ecr:${local.image_parts[1]}:${local.image_parts[0]}:repository/${local.image_parts[2]}"

  gateway_port   = 8787 # oncelink serve --listen 0.0.0.0:8787 in the image
  public_port    = 443
  health_path    = "/_oncelink/healthz"
  data_dir       = "/data"
  container_name = "gateway"

  cluster_name      = "oncelink-${var.deployment_name}"
  service_name      = "oncelink-${var.deployment_name}-gateway"
  family            = "oncelink-${var.deployment_name}-gateway"
  nlb_name          = "oncelink-${var.deployment_name}"
  target_group_name = "oncelink-${var.deployment_name}-gw"
  accelerator_name  = "oncelink-${var.deployment_name}"
  secrets_init_name = "oncelink-${var.deployment_name}-secrets-init"
  log_group_name    = "/ecs/oncelink-${var.deployment_name}-gateway"

  # The gateway's item calls on the ledger (shared/src/ledger/dynamodb: UpdateItem and GetItem).
  ledger_actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"]

  # The secrets the task receives (ECS secrets -> environment); presigned mode has no key set.
  secret_env   = { "api-token" = "ONCELINK_API_TOKEN", "keys" = "ONCELINK_KEYS" }
  secret_names = { for id, env in local.secret_env : id => env if local.sealed || id != "keys" }

  # The container's plain environment: configuration only, never a secret.
  environment = {
    RUST_LOG                     = "info"
    ONCELINK_LISTEN              = "0.0.0.0:8787"
    ONCELINK_PUBLIC_URL          = "https://${var.domain_name}"
    ONCELINK_MODE                = var.mode
    ONCELINK_DATA_DIR            = "/data"
    ONCELINK_LEDGER              = "dynamodb"
    ONCELINK_TABLE               = aws_dynamodb_table.ledger.name
    ONCELINK_ORIGIN_ENDPOINT     = "aws"
    ONCELINK_BUCKET              = local.bucket_name
    ONCELINK_REGION              = local.region
    ONCELINK_DEFAULT_EXPIRES     = "${var.default_expires_secs}s"
    ONCELINK_MAX_EXPIRES         = "${var.max_expires_secs}s"
    ONCELINK_RESUME_WINDOW       = "${var.resume_window_secs}s"
    ONCELINK_TRUST_FORWARDED_FOR = "false" # the NLB adds no X-Forwarded-For
    ONCELINK_SHUTDOWN_TIMEOUT    = "90s"   # ECS sends SIGKILL 120 s after SIGTERM (stopTimeout)
  }

  # The one container of the task definition (service.tf).
  container = {
    name                   = "gateway"
    image                  = "${var.image_repository_url}:${var.image_tag}"
    essential              = true
    readonlyRootFilesystem = true
    stopTimeout            = 120
    portMappings           = [{ containerPort = 8787, protocol = "tcp", name = "http" }]
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets                = [for id, env in local.secret_names : { name = env, valueFrom = aws_secretsmanager_secret.this[id].arn }]
    mountPoints            = [{ sourceVolume = "data", containerPath = "/data", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.gateway.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "gateway"
      }
    }
  }
}

# ---- ledger: the same table as modules/oncelink ---------------------------------------------
resource "aws_dynamodb_table" "ledger" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key; a CMK would add a key-policy dependency to every ledger call on the hot path for no extra isolation (the table holds hashes, never links).
  name                        = "oncelink-${var.deployment_name}-ledger"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.retain_on_destroy

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# ---- bucket: the same as modules/oncelink, with a policy for the gateway ---------------------
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Every link use is recorded in the ledger (first_used_at, request ids) and the gateway logs one access line per request; server access logs need a second bucket per deployment.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a data-residency decision for the deployer, not part of link enforcement.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256): SSE-KMS would add kms:Decrypt to every download and upload on the gateway's hot path.
  #checkov:skip=CKV2_AWS_62:No event consumers: links are enforced by the gateway, not by S3 notifications.
  #checkov:skip=CKV2_AWS_61:Object lifetime belongs to the data owner; oncelink never expires objects.
  count         = local.own_bucket ? 1 : 0
  bucket_prefix = "oncelink-${var.deployment_name}-"
}

resource "aws_s3_bucket_public_access_block" "this" {
  count                   = local.own_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count  = local.own_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count  = local.own_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "this" {
  count  = local.own_bucket ? 1 : 0
  bucket = aws_s3_bucket.this[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "bucket" {
  count = local.own_bucket ? 1 : 0

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "TlsOneTwo"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # The gateway, only through this VPC's S3 endpoint.
  statement {
    sid       = "GatewayThroughEndpoint"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.task.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.s3.id]
    }
  }

  # The task role's credentials are worthless outside the VPC (and so are presigned URLs it signs).
  statement {
    sid       = "GatewayRoleOnlyThroughEndpoint"
    effect    = "Deny"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bucket_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:SourceVpce"
      values   = [aws_vpc_endpoint.s3.id]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [aws_iam_role.task.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count      = local.own_bucket ? 1 : 0
  bucket     = aws_s3_bucket.this[0].id
  policy     = data.aws_iam_policy_document.bucket[0].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---- secrets: created empty, filled inside AWS by keys-init (never in plan or state) ----------
resource "aws_kms_key" "secrets" {
  #checkov:skip=CKV2_AWS_64:The default key policy (account root administers, IAM grants use) is intended: every use of this key is granted in this module's IAM policies, each limited by kms:ViaService=secretsmanager.
  description             = "oncelink ${var.deployment_name}: encrypts the gateway's secrets (API token, sealed key set)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:The key set rotates by adding a key and keeping the old one until its links expire, and the API token is shared with the issuing app: both are coordinated changes (infra/README.md), not a schedule.
  for_each                = local.secret_names
  name                    = "oncelink/${var.deployment_name}/${each.key}"
  description             = "oncelink ${var.deployment_name}: ${each.value} of the gateway"
  kms_key_id              = aws_kms_key.secrets.arn
  recovery_window_in_days = var.secret_recovery_window_days
  # No aws_secretsmanager_secret_version: a value here would be in the state.
}

data "archive_file" "secrets_init" {
  type        = "zip"
  source_file = "${path.module}/../../../keys-init/index.mjs"
  output_path = "${path.root}/.oncelink-build/${local.secrets_init_name}.zip"
}

resource "aws_cloudwatch_log_group" "secrets_init" {
  #checkov:skip=CKV_AWS_158:The function logs only "created"/"kept existing"; never a value.
  name              = "/aws/lambda/${local.secrets_init_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "secrets_init" {
  #checkov:skip=CKV_AWS_117:Talks only to Secrets Manager over its public endpoint; a VPC would add endpoints for a deploy-time function.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Terraform, which reports failures; nothing is retried asynchronously.
  #checkov:skip=CKV_AWS_173:No environment variables.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the deployer owns; the zip is built from this repository.
  #checkov:skip=CKV_AWS_115:Runs once per apply; reserved concurrency would only take capacity from the account.
  #checkov:skip=CKV_AWS_50:Deploy-time function; X-Ray adds nothing to two Secrets Manager calls.
  function_name    = local.secrets_init_name
  description      = "oncelink: generates the gateway's API token and key set in Secrets Manager"
  role             = aws_iam_role.secrets_init.arn
  runtime          = "nodejs24.x"
  architectures    = ["arm64"]
  handler          = "index.handler"
  filename         = data.archive_file.secrets_init.output_path
  source_code_hash = data.archive_file.secrets_init.output_base64sha256
  timeout          = 30
  memory_size      = 128
  depends_on       = [aws_cloudwatch_log_group.secrets_init]
}

resource "aws_lambda_invocation" "secret_value" {
  for_each        = aws_secretsmanager_secret.this
  function_name   = aws_lambda_function.secrets_init.function_name
  lifecycle_scope = "CRUD"
  # The secret's ARN only; the function answers {"outcome": "created" | "kept existing"}.
  input = jsonencode({
    SecretId = each.value.arn
  })
  depends_on = [aws_iam_role_policy.secrets_init]
}
