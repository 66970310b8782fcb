output "api_url" {
  description = "Issue API base URL (POST /links)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "cdn_domain" {
  description = "Links are served from here."
  value       = local.cdn_domain
}

output "table_name" {
  description = "The ledger table."
  value       = aws_dynamodb_table.ledger.name
}

output "bucket_name" {
  description = "Objects to link."
  value       = local.bucket_name
}

output "distribution_id" {
  description = "CloudFront distribution id (for invalidations and teardown)."
  value       = aws_cloudfront_distribution.this.id
}

output "ssm_prefix" {
  description = "Where the validator's parameters live."
  value       = local.ssm_prefix
}

output "event_bus_arn" {
  description = "Link events (Source oncelink) are published here."
  value       = local.event_bus_arn
}

output "events_dlq_url" {
  description = "Stream batches the ledger-events function gave up on."
  value       = aws_sqs_queue.ledger_events_dlq.url
}

output "dashboard_name" {
  description = "The CloudWatch dashboard (home region)."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}
