# Least-privilege roles, one per function. Same statements as the CDK construct.

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "edge_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com", "edgelambda.amazonaws.com"]
    }
  }
}

# ---- viewer-request (the regional Rust validator) ---------------------------------------
data "aws_iam_policy_document" "viewer_request" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.viewer_request.arn}:*"]
  }
  statement {
    sid       = "Ledger"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }
  statement {
    sid       = "Config"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = local.parameter_arns
  }
  dynamic "statement" {
    for_each = local.sealed ? [1] : []
    content {
      sid       = "DecryptKeySet"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.key_set[0].arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "viewer_request" {
  name_prefix        = "oncelink-${var.deployment_name}-vr-"
  description        = "oncelink: ${local.viewer_request_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "viewer_request" {
  role   = aws_iam_role.viewer_request.id
  policy = data.aws_iam_policy_document.viewer_request.json
}

# ---- issue-url ----------------------------------------------------------------------------
data "aws_iam_policy_document" "issue_url" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.issue_url.arn}:*"]
  }
  # Presigned links are signed with this role's credentials: only the allowed prefix.
  dynamic "statement" {
    for_each = local.presigned ? [1] : []
    content {
      sid       = "SignLinks"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = ["${local.bucket_arn}/${var.key_prefix}*"]
    }
  }
  # The link routes: revoke and tag (UpdateItem), a link's state and trail (GetItem).
  statement {
    sid       = "Links"
    actions   = ["dynamodb:UpdateItem", "dynamodb:GetItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }
  statement {
    sid       = "Config"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = local.parameter_arns
  }
  dynamic "statement" {
    for_each = local.sealed ? [1] : []
    content {
      sid       = "DecryptKeySet"
      actions   = ["kms:Decrypt"]
      resources = [aws_kms_key.key_set[0].arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "issue_url" {
  name_prefix        = "oncelink-${var.deployment_name}-iu-"
  description        = "oncelink: ${local.issue_url_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "issue_url" {
  role   = aws_iam_role.issue_url.id
  policy = data.aws_iam_policy_document.issue_url.json
}

# ---- edge shim (Lambda@Edge, us-east-1) ---------------------------------------------------
# One function on viewer request and origin response; both invoke the same regional function.
data "aws_iam_policy_document" "edge_shim" {
  statement {
    sid       = "InvokeValidator"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.viewer_request.arn]
  }
  statement {
    sid     = "Logs"
    actions = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    # Replicas log in whichever region served the viewer, to /aws/lambda/us-east-1.<name>.
    resources = ["arn:${local.partition}:logs:*:${local.account}:log-group:/aws/lambda/us-east-1.${local.edge_shim_name}:*"]
  }
}

resource "aws_iam_role" "edge_shim" {
  provider           = aws.us_east_1
  name_prefix        = "oncelink-${var.deployment_name}-edge-"
  description        = "oncelink ${var.deployment_name}: Lambda@Edge viewer-request and origin-response shim"
  assume_role_policy = data.aws_iam_policy_document.edge_trust.json
}

resource "aws_iam_role_policy" "edge_shim" {
  provider = aws.us_east_1
  role     = aws_iam_role.edge_shim.id
  policy   = data.aws_iam_policy_document.edge_shim.json
}

# ---- keys-init (sealed mode, deploy time only) ---------------------------------------------
data "aws_iam_policy_document" "keys_init" {
  count = local.sealed && var.create_key_set ? 1 : 0
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.keys_init[0].arn}:*"]
  }
  statement {
    sid       = "KeySet"
    actions   = ["ssm:PutParameter", "ssm:DeleteParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${local.ssm_prefix}/keys"]
  }
  statement {
    sid       = "EncryptKeySet"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.key_set[0].arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "keys_init" {
  count              = local.sealed && var.create_key_set ? 1 : 0
  name_prefix        = "oncelink-${var.deployment_name}-keys-"
  description        = "oncelink: creates the sealed-link key set"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "keys_init" {
  count  = local.sealed && var.create_key_set ? 1 : 0
  role   = aws_iam_role.keys_init[0].id
  policy = data.aws_iam_policy_document.keys_init[0].json
}
