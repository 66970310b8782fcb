# Alarms and the dashboard: the same names, metrics and thresholds as the CDK construct
# (tests/infra/test_crosscheck.py compares them). The EMF metrics carry no deployment
# dimension, so the Metrics Insights queries sum every function of the namespace. CloudFront's
# metrics live in us-east-1, so the edge 5xx alarm (and its topic) does too.

locals {
  create_home_topic = var.create_alarm_topics && var.alarm_topic_arn == null
  create_edge_topic = var.create_alarm_topics && var.edge_alarm_topic_arn == null
  home_topic_arn    = var.alarm_topic_arn != null ? var.alarm_topic_arn : (local.create_home_topic ? aws_sns_topic.alarms[0].arn : null)
  edge_topic_arn    = var.edge_alarm_topic_arn != null ? var.edge_alarm_topic_arn : (local.create_edge_topic ? aws_sns_topic.edge_alarms[0].arn : null)
  home_actions      = local.home_topic_arn == null ? [] : [local.home_topic_arn]
  edge_actions      = local.edge_topic_arn == null ? [] : [local.edge_topic_arn]
}

# ---- alarm topics (optional) ------------------------------------------------------------------
data "aws_iam_policy_document" "alarm_topic_key" {
  #checkov:skip=CKV_AWS_109:A key policy: "*" is the key it is attached to, and kms:* for the account root is the default key policy (IAM policies grant use), restated because a second statement is needed.
  #checkov:skip=CKV_AWS_111:A key policy: "*" is this key only; the account root administers it, as in the default key policy.
  #checkov:skip=CKV_AWS_356:A key policy: "*" is this key only (the alarm-topic key); no other resource can be named here.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy, "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_kms_key" "alarms" {
  count                   = local.create_home_topic ? 1 : 0
  description             = "oncelink ${var.deployment_name}: encrypts the alarm topic oncelink-${var.deployment_name}-alarms"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.alarm_topic_key.json
}

resource "aws_kms_key" "edge_alarms" {
  count                   = local.create_edge_topic ? 1 : 0
  provider                = aws.us_east_1
  description             = "oncelink ${var.deployment_name}: encrypts the alarm topic oncelink-${var.deployment_name}-edge-alarms"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = data.aws_iam_policy_document.alarm_topic_key.json
}

resource "aws_sns_topic" "alarms" {
  count             = local.create_home_topic ? 1 : 0
  name              = "oncelink-${var.deployment_name}-alarms"
  display_name      = "oncelink ${var.deployment_name} alarms"
  kms_master_key_id = aws_kms_key.alarms[0].arn
}

resource "aws_sns_topic" "edge_alarms" {
  count             = local.create_edge_topic ? 1 : 0
  provider          = aws.us_east_1
  name              = "oncelink-${var.deployment_name}-edge-alarms"
  display_name      = "oncelink ${var.deployment_name} alarms"
  kms_master_key_id = aws_kms_key.edge_alarms[0].arn
}

# TLS only; only this deployment's alarms (oncelink-<name>-*) may publish.
data "aws_iam_policy_document" "alarm_topic" {
  for_each = toset(concat(local.create_home_topic ? ["home"] : [], local.create_edge_topic ? ["edge"] : []))
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [each.key == "home" ? aws_sns_topic.alarms[0].arn : aws_sns_topic.edge_alarms[0].arn]
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
    sid       = "CloudWatchAlarms"
    actions   = ["sns:Publish"]
    resources = [each.key == "home" ? aws_sns_topic.alarms[0].arn : aws_sns_topic.edge_alarms[0].arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${each.key == "home" ? local.region : "us-east-1"}:${local.account}:alarm:oncelink-${var.deployment_name}-*"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count  = local.create_home_topic ? 1 : 0
  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic["home"].json
}

resource "aws_sns_topic_policy" "edge_alarms" {
  count    = local.create_edge_topic ? 1 : 0
  provider = aws.us_east_1
  arn      = aws_sns_topic.edge_alarms[0].arn
  policy   = data.aws_iam_policy_document.alarm_topic["edge"].json
}

# ---- alarms -------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "ledger_errors" {
  alarm_name          = "oncelink-${var.deployment_name}-ledger-errors"
  alarm_description   = "oncelink: a decision or API call could not reach the ledger (DynamoDB) and failed closed. Check DynamoDB health/throttling and the validator logs."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.home_actions
  ok_actions          = local.home_actions
  metric_query {
    id          = "q1"
    expression  = "SELECT SUM(LedgerErrors) FROM SCHEMA(oncelink, Function)"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "config_errors" {
  alarm_name          = "oncelink-${var.deployment_name}-config-errors"
  alarm_description   = "oncelink: the configuration (SSM parameters, key set) could not be loaded and requests failed closed. Check the SSM parameters under ${local.ssm_prefix} and the role grants."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.home_actions
  ok_actions          = local.home_actions
  metric_query {
    id          = "q1"
    expression  = "SELECT SUM(ConfigErrors) FROM SCHEMA(oncelink, Function)"
    period      = 300
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "denial_spike" {
  alarm_name          = "oncelink-${var.deployment_name}-denial-spike"
  alarm_description   = "oncelink: more than ${var.alarm_denial_threshold} denied link requests in ${var.alarm_denial_period_secs} s. See the dashboard's denials by reason (replayed links, bad signatures, expired links)."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = var.alarm_denial_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.home_actions
  ok_actions          = local.home_actions
  metric_query {
    id          = "q1"
    expression  = "SELECT SUM(Decisions) FROM SCHEMA(oncelink, Decision, Function, Reason) WHERE Decision = 'deny'"
    period      = var.alarm_denial_period_secs
    return_data = true
  }
}

# One alarm for the event pipeline: EventBridge refused entries, the function failed, or records
# were given up into the DLQ (stays in alarm until the DLQ is drained).
resource "aws_cloudwatch_metric_alarm" "event_delivery" {
  alarm_name          = "oncelink-${var.deployment_name}-event-delivery"
  alarm_description   = "oncelink: link events are not being delivered: EventBridge refused entries (EventPublishFailures), the ledger-events function failed (Errors), or records were given up into the DLQ. See infra/README.md."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.home_actions
  ok_actions          = local.home_actions
  metric_query {
    id          = "failures"
    return_data = false
    metric {
      namespace   = "oncelink"
      metric_name = "EventPublishFailures"
      dimensions  = { Function = "ledger-events" }
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "errors"
    return_data = false
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = local.ledger_events_name }
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "dlq"
    return_data = false
    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = local.events_dlq_name }
      period      = 300
      stat        = "Maximum"
    }
  }
  metric_query {
    id          = "total"
    return_data = true
    label       = "publish failures + function errors + DLQ messages"
    expression  = "FILL(failures, 0) + FILL(errors, 0) + FILL(dlq, 0)"
  }
}

resource "aws_cloudwatch_metric_alarm" "edge_5xx" {
  provider            = aws.us_east_1
  alarm_name          = "oncelink-${var.deployment_name}-edge-5xx"
  alarm_description   = "oncelink: more than ${var.alarm_edge_5xx_rate_percent} % of CloudFront responses were 5xx for 10 minutes (503 validator_unavailable/failed from the shim, or S3). Check the shim's edge logs and the validator."
  comparison_operator = "GreaterThanThreshold"
  namespace           = "AWS/CloudFront"
  metric_name         = "5xxErrorRate"
  dimensions = {
    DistributionId = aws_cloudfront_distribution.this.id
    Region         = "Global"
  }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = var.alarm_edge_5xx_rate_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.edge_actions
  ok_actions          = local.edge_actions
}

# ---- dashboard: one body for both tools (infra/monitoring/dashboard.json.tftpl) ----------------
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "oncelink-${var.deployment_name}"
  dashboard_body = templatefile("${path.module}/../../../monitoring/dashboard.json.tftpl", {
    Name                 = var.deployment_name
    Region               = local.region
    DistributionId       = aws_cloudfront_distribution.this.id
    LedgerEventsFunction = local.ledger_events_name
    DeadLetterQueue      = local.events_dlq_name
  })
}
