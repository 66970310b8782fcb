variable "deployment_name" {
  description = "Names the deployment: SSM prefix /oncelink/<name>, function, role and table names."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,31}$", var.deployment_name))
    error_message = "deployment_name must match [a-z0-9][a-z0-9-]{0,31}."
  }
}

variable "mode" {
  description = "sealed (S3 reachable only through CloudFront, OAC) or presigned (S3 SigV4 query auth, no OAC/OAI)."
  type        = string
  default     = "sealed"
  validation {
    condition     = contains(["sealed", "presigned"], var.mode)
    error_message = "mode must be sealed or presigned."
  }
}

variable "bucket_name" {
  description = "An existing bucket to link objects from. null = create one (block public access, TLS only, SSE-S3, versioned). With an existing bucket in sealed mode, add the bucket policy statement from the README yourself."
  type        = string
  default     = null
}

variable "cdn_domain_name" {
  description = "Optional alternate domain name for the distribution (needs acm_certificate_arn)."
  type        = string
  default     = null
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in us-east-1) for cdn_domain_name."
  type        = string
  default     = null
}

variable "default_expires_secs" {
  description = "Link lifetime when the request names none."
  type        = number
  default     = 900
}

variable "max_expires_secs" {
  description = "Upper bound for expires_in (SigV4 allows 7 days)."
  type        = number
  default     = 604800
  validation {
    condition     = var.max_expires_secs > 0 && var.max_expires_secs <= 604800
    error_message = "max_expires_secs must be in 1..604800."
  }
}

variable "key_prefix" {
  description = "Only keys under this prefix can be linked (e.g. \"shared/\"). Empty = the whole bucket."
  type        = string
  default     = ""
  validation {
    condition     = !startswith(var.key_prefix, "/") && !strcontains(var.key_prefix, "*")
    error_message = "key_prefix must not start with / or contain *."
  }
}

variable "cors_origins" {
  description = "Browser origins allowed to call the issue API. Empty = none."
  type        = list(string)
  default     = []
}

variable "issuer_auth" {
  description = "How callers of the issue API authenticate: iam (SigV4, execute-api:Invoke) or jwt."
  type        = string
  default     = "iam"
  validation {
    condition     = contains(["iam", "jwt"], var.issuer_auth)
    error_message = "issuer_auth must be iam or jwt."
  }
}

variable "jwt_issuer" {
  description = "JWT issuer URL (issuer_auth = jwt)."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "Accepted JWT audiences (issuer_auth = jwt)."
  type        = list(string)
  default     = []
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per client IP at CloudFront (WAF rate-based rule). null = no WAF."
  type        = number
  default     = null
}

variable "waf_allowed_cidrs" {
  description = "Only these client CIDRs (IPv4 and IPv6) may reach CloudFront; WAF blocks every other address. Alone or with waf_rate_limit (one web ACL). [] = no allow list."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.waf_allowed_cidrs : can(cidrhost(c, 0)) && strcontains(c, "/")])
    error_message = "waf_allowed_cidrs: every entry must be an IPv4 or IPv6 CIDR (address/prefix)."
  }
}

variable "event_bus_arn" {
  description = "An existing EventBridge bus (ARN) for the link events. null = a new bus oncelink-<name>."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "An existing SNS topic in the home region that the home-region alarms notify. null = none (or the created one, create_alarm_topics)."
  type        = string
  default     = null
}

variable "edge_alarm_topic_arn" {
  description = "An existing SNS topic in us-east-1 for the edge 5xx alarm (CloudFront's metrics live there). null = none (or the created one)."
  type        = string
  default     = null
}

variable "create_alarm_topics" {
  description = "Create oncelink-<name>-alarms (home region) and oncelink-<name>-edge-alarms (us-east-1), KMS-encrypted, for whichever ARN is not given."
  type        = bool
  default     = false
}

variable "alarm_denial_threshold" {
  description = "Denials (sum of Decisions with Decision=deny) per alarm_denial_period_secs above which oncelink-<name>-denial-spike fires."
  type        = number
  default     = 100
  validation {
    condition     = var.alarm_denial_threshold >= 0
    error_message = "alarm_denial_threshold must be >= 0."
  }
}

variable "alarm_denial_period_secs" {
  description = "The period the denials are summed over (10, 30 or a multiple of 60 seconds)."
  type        = number
  default     = 300
  validation {
    condition     = contains([10, 30], var.alarm_denial_period_secs) || (var.alarm_denial_period_secs >= 60 && var.alarm_denial_period_secs % 60 == 0)
    error_message = "alarm_denial_period_secs must be 10, 30 or a multiple of 60."
  }
}

variable "alarm_edge_5xx_rate_percent" {
  description = "CloudFront 5xxErrorRate (percent, average over 5 minutes, two periods in a row) above which oncelink-<name>-edge-5xx fires."
  type        = number
  default     = 5
  validation {
    condition     = var.alarm_edge_5xx_rate_percent > 0 && var.alarm_edge_5xx_rate_percent <= 100
    error_message = "alarm_edge_5xx_rate_percent must be in (0, 100]."
  }
}

variable "artifacts_dir" {
  description = "Where cargo lambda put issue-url/bootstrap.zip, viewer-request/bootstrap.zip and ledger-events/bootstrap.zip."
  type        = string
}

variable "create_key_set" {
  description = "Sealed mode: generate the key set inside AWS with the keys-init Lambda (never in plan or state). false = run `oncelink keys init` yourself."
  type        = bool
  default     = true
}

variable "preview_user_agents" {
  description = "Link-preview user agents that get an empty 200 without spending a use. null = the validator's list."
  type        = list(string)
  default     = null
}

variable "edge_invoke_timeout_ms" {
  description = "How long the edge shim waits for the validator (viewer requests allow 5 s)."
  type        = number
  default     = 3000
  validation {
    condition     = var.edge_invoke_timeout_ms > 0 && var.edge_invoke_timeout_ms < 5000
    error_message = "edge_invoke_timeout_ms must stay under 5000."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for the functions and the API access log."
  type        = number
  default     = 365
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the key-set KMS key is deleted."
  type        = number
  default     = 30
}

variable "retain_on_destroy" {
  description = "Keep the ledger (deletion protection) and the sealed key set when the module is destroyed. Set false before a deliberate teardown."
  type        = bool
  default     = true
}
