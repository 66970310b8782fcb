# CloudFront in front of S3, with the shim on viewer request (claims a use) and on origin
# response (gives it back when S3 refused).

locals {
  # AWS managed policies (stable IDs).
  cache_policy_caching_disabled      = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  origin_request_all_viewer_but_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac" # Managed-AllViewerExceptHostHeader
  # The validator adds this header to the request it lets through; the origin-response event
  # carries the origin request, so it must be forwarded. Presigned: the managed policy above
  # forwards every viewer header, and one a viewer-request function adds counts as one.
  link_header = "x-oncelink-link"
  origin_id                          = "s3-${var.deployment_name}"
  bucket_regional_domain             = local.own_bucket ? aws_s3_bucket.this[0].bucket_regional_domain_name : "${var.bucket_name}.s3.${local.region}.amazonaws.com"
}

# Sealed only: CloudFront signs every origin request. Presigned mode has neither OAC nor OAI
# (S3 refuses a request carrying both an Authorization header and X-Amz-* query auth).
resource "aws_cloudfront_origin_access_control" "this" {
  count                             = local.sealed ? 1 : 0
  name                              = "oncelink-${var.deployment_name}"
  description                       = "oncelink sealed mode: CloudFront signs every origin request"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_origin_request_policy" "sealed" {
  count   = local.sealed ? 1 : 0
  name    = "oncelink-${var.deployment_name}-sealed"
  comment = "oncelink sealed: forward what S3 needs (response-* overrides, upload headers), never viewer credentials"
  cookies_config {
    cookie_behavior = "none"
  }
  headers_config {
    header_behavior = "whitelist"
    headers {
      items = ["Content-Type", "Content-MD5", "x-amz-content-sha256", "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers", local.link_header]
    }
  }
  query_strings_config {
    query_string_behavior = "all"
  }
}

resource "aws_cloudfront_response_headers_policy" "security" {
  #checkov:skip=CKV_AWS_259:HSTS is on (1 year, includeSubDomains, override); "preload" is a commitment only the owner of a custom domain can make, and meaningless on *.cloudfront.net.
  name    = "oncelink-${var.deployment_name}-security"
  comment = "oncelink: security headers; no-referrer keeps link tokens out of Referer"
  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
    content_security_policy {
      content_security_policy = "default-src 'none'; frame-ancestors 'none'; sandbox"
      override                = true
    }
  }
}

# The CloudFront-scope WAF ACL (us-east-1): a per-IP rate limit and/or an allow list (every other
# address is blocked). It keeps its first name, oncelink-<name>-rate-limit, whatever it holds:
# renaming would replace it, and the old ACL cannot be deleted while the distribution uses it.
locals {
  waf_enabled      = var.waf_rate_limit != null || length(var.waf_allowed_cidrs) > 0
  waf_allow_list   = length(var.waf_allowed_cidrs) > 0
  waf_allowed_ipv6 = [for c in var.waf_allowed_cidrs : c if strcontains(c, ":")]
  waf_allowed_ipv4 = [for c in var.waf_allowed_cidrs : c if !strcontains(c, ":")]
}

# Both sets always exist with an allow list (an IP set may be empty), so the rule has one shape.
resource "aws_wafv2_ip_set" "allow_v4" {
  count              = local.waf_allow_list ? 1 : 0
  provider           = aws.us_east_1
  name               = "oncelink-${var.deployment_name}-allow-v4"
  description        = "oncelink ${var.deployment_name}: IPv4 clients allowed to reach CloudFront"
  scope              = "CLOUDFRONT"
  ip_address_version = "IPV4"
  addresses          = local.waf_allowed_ipv4
}

resource "aws_wafv2_ip_set" "allow_v6" {
  count              = local.waf_allow_list ? 1 : 0
  provider           = aws.us_east_1
  name               = "oncelink-${var.deployment_name}-allow-v6"
  description        = "oncelink ${var.deployment_name}: IPv6 clients allowed to reach CloudFront"
  scope              = "CLOUDFRONT"
  ip_address_version = "IPV6"
  addresses          = local.waf_allowed_ipv6
}

resource "aws_wafv2_web_acl" "rate_limit" {
  #checkov:skip=CKV2_AWS_31:WAF logging needs a Firehose/bucket named aws-waf-logs-*; opt in per deployment.
  #checkov:skip=CKV_AWS_192:No Java/Log4j origin: the origin is S3 and the edge validator refuses any unknown parameter.
  count       = local.waf_enabled ? 1 : 0
  provider    = aws.us_east_1
  name        = "oncelink-${var.deployment_name}-rate-limit"
  scope       = "CLOUDFRONT"
  description = "oncelink: per-IP rate limit and/or client allow list in front of the link validator"
  default_action {
    allow {}
  }
  dynamic "rule" {
    for_each = var.waf_rate_limit == null ? [] : [var.waf_rate_limit]
    content {
      name     = "per-ip-rate-limit"
      priority = 0
      action {
        block {}
      }
      statement {
        rate_based_statement {
          limit              = rule.value
          aggregate_key_type = "IP"
        }
      }
      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "oncelink-${var.deployment_name}-rate"
        sampled_requests_enabled   = true
      }
    }
  }
  dynamic "rule" {
    for_each = local.waf_allow_list ? [1] : []
    content {
      name     = "not-in-allow-list"
      priority = 1
      action {
        block {}
      }
      statement {
        not_statement {
          statement {
            or_statement {
              statement {
                ip_set_reference_statement {
                  arn = aws_wafv2_ip_set.allow_v4[0].arn
                }
              }
              statement {
                ip_set_reference_statement {
                  arn = aws_wafv2_ip_set.allow_v6[0].arn
                }
              }
            }
          }
        }
      }
      visibility_config {
        cloudwatch_metrics_enabled = true
        metric_name                = "oncelink-${var.deployment_name}-allow-list"
        sampled_requests_enabled   = true
      }
    }
  }
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "oncelink-${var.deployment_name}"
    sampled_requests_enabled   = true
  }
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_86:Every link use is recorded (first_used_at, request id) in the ledger; standard logs need an ACL-enabled log bucket.
  #checkov:skip=CKV_AWS_68:WAF is opt-in (waf_rate_limit, waf_allowed_cidrs); the edge validator refuses invalid links before any origin access.
  #checkov:skip=CKV2_AWS_47:WAF is opt-in; the origin is S3 (no Log4j surface).
  #checkov:skip=CKV_AWS_310:One origin by design: failing over to another bucket would bypass the bucket policy tied to this distribution.
  #checkov:skip=CKV_AWS_374:Links are shared with arbitrary recipients; geo restriction is a business decision left to the deployer.
  #checkov:skip=CKV2_AWS_42:A custom certificate is optional (cdn_domain_name + acm_certificate_arn); *.cloudfront.net is served otherwise.
  #checkov:skip=CKV_AWS_174:With a custom certificate the module sets TLSv1.2_2021; the default *.cloudfront.net certificate's policy cannot be chosen.
  #checkov:skip=CKV_AWS_305:No default root object on purpose: every path is an object key that needs a link token; "/" is refused by the validator.
  #checkov:skip=CKV2_AWS_32:A response headers policy is attached (aws_cloudfront_response_headers_policy.security); checkov does not resolve the reference.
  enabled         = true
  comment         = "oncelink ${var.deployment_name} (${var.mode})"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = "PriceClass_All"
  aliases         = var.cdn_domain_name == null ? [] : [var.cdn_domain_name]
  web_acl_id      = local.waf_enabled ? aws_wafv2_web_acl.rate_limit[0].arn : null

  origin {
    origin_id                = local.origin_id
    domain_name              = local.bucket_regional_domain
    origin_access_control_id = local.sealed ? aws_cloudfront_origin_access_control.this[0].id : null
    s3_origin_config {
      origin_access_identity = "" # never an OAI
    }
  }

  default_cache_behavior {
    target_origin_id           = local.origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
    cached_methods             = ["GET", "HEAD"]
    cache_policy_id            = local.cache_policy_caching_disabled
    origin_request_policy_id   = local.sealed ? aws_cloudfront_origin_request_policy.sealed[0].id : local.origin_request_all_viewer_but_host
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id
    compress                   = false

    lambda_function_association {
      event_type   = "viewer-request"
      lambda_arn   = aws_lambda_function.edge_shim.qualified_arn
      include_body = false
    }

    # A use is spent on delivery: a refusal from S3 (status >= 300) gives it back. Same
    # published version as on viewer request; response events take no body.
    lambda_function_association {
      event_type = "origin-response"
      lambda_arn = aws_lambda_function.edge_shim.qualified_arn
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }
}
