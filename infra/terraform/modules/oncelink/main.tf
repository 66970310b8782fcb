# oncelink: the same resources, names and policies as the CDK construct (infra/cdk/lib/oncelink.ts);
# tests/infra/test_crosscheck.py keeps the two in step.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name        = var.deployment_name
  sealed      = var.mode == "sealed"
  presigned   = var.mode == "presigned"
  account     = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  ssm_prefix  = "/oncelink/${var.deployment_name}"
  own_bucket  = var.bucket_name == null
  bucket_name = local.own_bucket ? aws_s3_bucket.this[0].id : var.bucket_name
  bucket_arn  = "arn:${local.partition}:s3:::${local.bucket_name}"
  cdn_domain  = var.cdn_domain_name != null ? var.cdn_domain_name : aws_cloudfront_distribution.this.domain_name

  viewer_request_name = "oncelink-${var.deployment_name}-viewer-request"
  issue_url_name      = "oncelink-${var.deployment_name}-issue-url"
  edge_shim_name      = "oncelink-${var.deployment_name}-edge-shim"
  keys_init_name      = "oncelink-${var.deployment_name}-keys-init"
  ledger_events_name  = "oncelink-${var.deployment_name}-ledger-events"

  # Every parameter the validator and the issuer read (GetParameters asks for all three at once).
  parameter_arns = [for p in ["table-name", "edge-config", "keys"] : "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${local.ssm_prefix}/${p}"]
}

# ---- ledger -----------------------------------------------------------------------------
# Its stream feeds the link events (ledger-events, events.tf); the static-IP module's has none.
resource "aws_dynamodb_table" "ledger" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key; a CMK would add a key-policy dependency to every ledger call on the hot path for no extra isolation (the table holds hashes, never links).
  name                        = "oncelink-${var.deployment_name}-ledger"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = var.retain_on_destroy
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

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

# ---- bucket -----------------------------------------------------------------------------
resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Every link use is recorded in the ledger (first_used_at, request ids); server access logs need a second bucket per deployment. Enable them on a bucket you pass in if your audit needs them.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a data-residency decision for the deployer, not part of link enforcement.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256): SSE-KMS would require kms:Decrypt for CloudFront OAC and for every presigned download.
  #checkov:skip=CKV2_AWS_62:No event consumers: links are enforced at the edge, not by S3 notifications.
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

  # Sealed mode: only this distribution, only the allowed prefix, only GET/PUT.
  dynamic "statement" {
    for_each = local.sealed ? [1] : []
    content {
      sid       = "OnlyThisDistribution"
      effect    = "Allow"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${local.bucket_arn}/${var.key_prefix}*"]
      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [aws_cloudfront_distribution.this.arn]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count      = local.own_bucket ? 1 : 0
  bucket     = aws_s3_bucket.this[0].id
  policy     = data.aws_iam_policy_document.bucket[0].json
  depends_on = [aws_s3_bucket_public_access_block.this]
}

# ---- SSM parameters the validator reads -----------------------------------------------------
resource "aws_ssm_parameter" "table_name" {
  #checkov:skip=CKV2_AWS_34:Not a secret (the table name); the validator reads it without decryption. Only <prefix>/keys is a SecureString.
  name        = "${local.ssm_prefix}/table-name"
  type        = "String"
  value       = aws_dynamodb_table.ledger.name
  description = "oncelink: the ledger table"
}

resource "aws_ssm_parameter" "edge_config" {
  #checkov:skip=CKV2_AWS_34:Not a secret (mode and CDN domain, JSON).
  name        = "${local.ssm_prefix}/edge-config"
  type        = "String"
  description = "oncelink: edge configuration (JSON)"
  value = jsonencode(merge(
    { mode = var.mode, cdn_domain = local.cdn_domain },
    var.preview_user_agents == null ? {} : { preview_user_agents = var.preview_user_agents },
  ))
}

# ---- sealed mode: key set, generated inside AWS ----------------------------------------------
resource "aws_kms_key" "key_set" {
  #checkov:skip=CKV2_AWS_64:The default key policy (account root administers, IAM grants use) is intended: every use of this key is granted in this module's IAM policies, each limited by kms:ViaService=ssm. A custom policy would only restate it with kms:* on "*".
  count                   = local.sealed ? 1 : 0
  description             = "oncelink ${var.deployment_name}: encrypts the sealed-link key set (SSM SecureString ${local.ssm_prefix}/keys)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  # No policy argument: the default key policy (account administers, IAM policies grant use).
}

data "archive_file" "keys_init" {
  count       = local.sealed && var.create_key_set ? 1 : 0
  type        = "zip"
  source_file = "${path.module}/../../../keys-init/index.mjs"
  output_path = "${path.root}/.oncelink-build/${local.keys_init_name}.zip"
}

resource "aws_lambda_function" "keys_init" {
  #checkov:skip=CKV_AWS_117:Talks only to SSM over its public endpoint; a VPC would add NAT or endpoints for a deploy-time function.
  #checkov:skip=CKV_AWS_116:Invoked synchronously by Terraform, which reports failures; nothing is retried asynchronously.
  #checkov:skip=CKV_AWS_173:No environment variables.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the deployer owns; the zip is built from this repository.
  #checkov:skip=CKV_AWS_115:Runs once per apply; reserved concurrency would only take capacity from the account.
  #checkov:skip=CKV_AWS_50:Deploy-time function; X-Ray adds nothing to one SSM call.
  count            = local.sealed && var.create_key_set ? 1 : 0
  function_name    = local.keys_init_name
  description      = "oncelink: generates the sealed-link key set in SSM"
  role             = aws_iam_role.keys_init[0].arn
  runtime          = "nodejs24.x"
  architectures    = ["arm64"]
  handler          = "index.handler"
  filename         = data.archive_file.keys_init[0].output_path
  source_code_hash = data.archive_file.keys_init[0].output_base64sha256
  timeout          = 30
  memory_size      = 128
  depends_on       = [aws_cloudwatch_log_group.keys_init]
}

resource "aws_lambda_invocation" "key_set" {
  count           = local.sealed && var.create_key_set ? 1 : 0
  function_name   = aws_lambda_function.keys_init[0].function_name
  lifecycle_scope = "CRUD"
  input = jsonencode({
    ParameterName  = "${local.ssm_prefix}/keys"
    KmsKeyId       = aws_kms_key.key_set[0].arn
    RetainOnDelete = tostring(var.retain_on_destroy)
  })
}
