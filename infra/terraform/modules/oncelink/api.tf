# The issue API: HTTP API (payload v2) → issue-url, IAM or JWT auth, optional CORS.

resource "aws_apigatewayv2_api" "this" {
  name          = "oncelink-${var.deployment_name}"
  description   = "oncelink: issue, list and revoke one-time links"
  protocol_type = "HTTP"

  dynamic "cors_configuration" {
    for_each = length(var.cors_origins) > 0 ? [1] : []
    content {
      allow_origins = var.cors_origins
      allow_methods = ["GET", "POST", "DELETE"]
      allow_headers = ["authorization", "content-type", "x-amz-date", "x-amz-security-token"]
      max_age       = 3600
    }
  }
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.issuer_auth == "jwt" ? 1 : 0
  api_id           = aws_apigatewayv2_api.this.id
  name             = "oncelink-${var.deployment_name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "issue_url" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.issue_url.invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "this" {
  for_each           = toset(["POST /links", "GET /links", "DELETE /links/{id}"])
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.issue_url.id}"
  authorization_type = var.issuer_auth == "jwt" ? "JWT" : "AWS_IAM"
  authorizer_id      = var.issuer_auth == "jwt" ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_158:Access logs carry request metadata only; service-managed encryption suffices.
  name              = "/aws/apigateway/oncelink-${var.deployment_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = 50
    throttling_burst_limit = 100
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId = "$context.requestId", ip = "$context.identity.sourceIp", requestTime = "$context.requestTime",
      routeKey = "$context.routeKey", status = "$context.status", responseLength = "$context.responseLength",
    })
  }
}

resource "aws_lambda_permission" "api" {
  statement_id  = "AllowIssueApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.issue_url.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
