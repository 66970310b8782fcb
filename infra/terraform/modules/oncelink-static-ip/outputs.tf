output "public_url" {
  description = "The API (/_oncelink/links), the web page (/_oncelink/) and the links."
  value       = "https://${var.domain_name}"
}

output "static_ips" {
  description = "The accelerator's two static IPv4 addresses (the domain's A records; customers allow-list these)."
  value       = flatten([for s in aws_globalaccelerator_accelerator.this.ip_sets : s.ip_addresses])
}

output "accelerator_dns_name" {
  description = "The accelerator's own DNS name (a CNAME target for the domain)."
  value       = aws_globalaccelerator_accelerator.this.dns_name
}

output "table_name" {
  description = "The ledger table."
  value       = aws_dynamodb_table.ledger.name
}

output "bucket_name" {
  description = "Objects to link."
  value       = local.bucket_name
}

output "api_token_secret_arn" {
  description = "Where the API token is (read it with aws secretsmanager get-secret-value); the ARN, never the value."
  value       = aws_secretsmanager_secret.this["api-token"].arn
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "The gateway service."
  value       = aws_ecs_service.gateway.name
}
