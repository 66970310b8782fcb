# Link events: the ledger's stream ─► ledger-events (Rust) ─► EventBridge. Same names, settings
# and statements as the CDK construct; tests/infra/test_crosscheck.py compares them.

locals {
  event_source       = "oncelink"
  event_detail_types = ["link.used", "link.exhausted", "link.revoked", "link.refused"]
  event_bus_arn      = var.event_bus_arn != null ? var.event_bus_arn : aws_cloudwatch_event_bus.this[0].arn
  events_dlq_name    = "${local.ledger_events_name}-dlq"
}

# Encrypted at rest with an AWS owned key (EventBridge's default): events carry link ids, uses
# and timestamps, never links, keys or object contents. (No checkov check for buses here.)
resource "aws_cloudwatch_event_bus" "this" {
  count       = var.event_bus_arn == null ? 1 : 0
  name        = "oncelink-${var.deployment_name}"
  description = "oncelink ${var.deployment_name}: link events (${join(", ", local.event_detail_types)})"
}

# Failed stream records (after bisecting and bounded retries) land here: SSE-SQS, TLS only.
resource "aws_sqs_queue" "ledger_events_dlq" {
  name                      = local.events_dlq_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days
}

data "aws_iam_policy_document" "ledger_events_dlq" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.ledger_events_dlq.arn]
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
}

resource "aws_sqs_queue_policy" "ledger_events_dlq" {
  queue_url = aws_sqs_queue.ledger_events_dlq.id
  policy    = data.aws_iam_policy_document.ledger_events_dlq.json
}

resource "aws_cloudwatch_log_group" "ledger_events" {
  #checkov:skip=CKV_AWS_158:Logs carry hashed link ids and publish outcomes, never links or keys; service-managed encryption suffices.
  name              = "/aws/lambda/${local.ledger_events_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "ledger_events" {
  #checkov:skip=CKV_AWS_117:Reads the DynamoDB stream and calls EventBridge over public endpoints; nothing private to reach.
  #checkov:skip=CKV_AWS_116:Invoked by a stream event source mapping, whose on-failure destination is the SQS DLQ; a function DLQ applies only to async invokes.
  #checkov:skip=CKV_AWS_173:Environment holds only the bus name/ARN, no secrets.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile the deployer owns; the zip is built from this repository by cargo lambda.
  #checkov:skip=CKV_AWS_115:One shard reader per stream shard (parallelization 1); reserved concurrency would only take capacity from the account.
  #checkov:skip=CKV_AWS_50:X-Ray is optional; enable it per deployment.
  function_name    = local.ledger_events_name
  description      = "oncelink: publishes ledger changes as EventBridge events"
  role             = aws_iam_role.ledger_events.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = "${var.artifacts_dir}/ledger-events/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.artifacts_dir}/ledger-events/bootstrap.zip")
  timeout          = 30
  memory_size      = 256
  environment {
    variables = {
      RUST_LOG           = "info"
      ONCELINK_EVENT_BUS = local.event_bus_arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.ledger_events]
}

data "aws_iam_policy_document" "ledger_events" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ledger_events.arn}:*"]
  }
  # The shape AWS documents for a Lambda function reading a table's stream.
  statement {
    sid       = "ReadStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = ["${aws_dynamodb_table.ledger.arn}/stream/*"]
  }
  statement {
    sid       = "PublishEvents"
    actions   = ["events:PutEvents"]
    resources = [local.event_bus_arn]
    condition {
      test     = "StringEquals"
      variable = "events:source"
      values   = [local.event_source]
    }
    condition {
      test     = "StringEquals"
      variable = "events:detail-type"
      values   = local.event_detail_types
    }
  }
  statement {
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.ledger_events_dlq.arn]
  }
}

resource "aws_iam_role" "ledger_events" {
  name_prefix        = "oncelink-${var.deployment_name}-ev-"
  description        = "oncelink: ${local.ledger_events_name}"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "ledger_events" {
  role   = aws_iam_role.ledger_events.id
  policy = data.aws_iam_policy_document.ledger_events.json
}

resource "aws_lambda_event_source_mapping" "ledger_events" {
  function_name                      = aws_lambda_function.ledger_events.arn
  event_source_arn                   = aws_dynamodb_table.ledger.stream_arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = 100
  maximum_batching_window_in_seconds = 1
  parallelization_factor             = 1
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = 5
  maximum_record_age_in_seconds      = 3600
  function_response_types            = ["ReportBatchItemFailures"]
  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.ledger_events_dlq.arn
    }
  }
  # Lambda checks the role when the mapping is created: the policy must exist first.
  depends_on = [aws_iam_role_policy.ledger_events]
}
