variable "deployment_name" {
  description = "Names the deployment: oncelink-<name>-* resources and oncelink/<name>/* secrets. At most 20 characters (load balancer and target group names are at most 32)."
  type        = string
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$", var.deployment_name))
    error_message = "deployment_name must match [a-z0-9][a-z0-9-]{0,18}[a-z0-9]."
  }
}

variable "domain_name" {
  description = "The one domain for the API, the web page and the links (e.g. files.example.com); the gateway runs with --public-url https://<domain_name>."
  type        = string
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name."
  }
}

variable "acm_certificate_arn" {
  description = "ACM certificate for domain_name, in the module's region (attached to the NLB's TLS listener)."
  type        = string
}

variable "route53_zone_id" {
  description = "A public hosted zone that holds domain_name: an A alias to the accelerator is created in it. null = none (point the name at the two static IPs yourself)."
  type        = string
  default     = null
}

variable "image_repository_url" {
  description = "The ECR repository of the gateway image: <account>.dkr.ecr.<region>.amazonaws.com/<name> (an arm64 image that runs oncelink serve)."
  type        = string
  validation {
    condition     = can(regex("^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9][a-z0-9._/-]*$", var.image_repository_url))
    error_message = "image_repository_url must be <account>.dkr.ecr.<region>.amazonaws.com/<name>."
  }
}

variable "image_tag" {
  description = "The image tag to run."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag is not a valid tag."
  }
}

variable "mode" {
  description = "sealed (HMAC tokens; the key set is a secret) or presigned (SigV4 presigned URLs signed by the task role, honoured by S3 only through the gateway's VPC endpoint)."
  type        = string
  default     = "sealed"
  validation {
    condition     = contains(["sealed", "presigned"], var.mode)
    error_message = "mode must be sealed or presigned."
  }
}

variable "bucket_name" {
  description = "An existing bucket in this region. null = create one (private, TLS only, SSE-S3, versioned). With an existing bucket, add the two bucket policy statements from infra/README.md yourself."
  type        = string
  default     = null
}

variable "default_expires_secs" {
  description = "Link lifetime when the request names none (ONCELINK_DEFAULT_EXPIRES)."
  type        = number
  default     = 900
}

variable "max_expires_secs" {
  description = "Upper bound for expires_in (ONCELINK_MAX_EXPIRES; at most 7 days)."
  type        = number
  default     = 604800
  validation {
    condition     = var.max_expires_secs > 0 && var.max_expires_secs <= 604800
    error_message = "max_expires_secs must be in 1..604800."
  }
}

variable "resume_window_secs" {
  description = "How long after its first use a link's first client may recover a cut-off download (ONCELINK_RESUME_WINDOW). 0 = off, the default here: behind a TLS listener the gateway sees the NLB's address, not the viewer's (infra/README.md)."
  type        = number
  default     = 0
}

variable "task_cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512
}

variable "task_memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 1024
}

variable "min_tasks" {
  description = "Fewest gateway tasks (and the initial count)."
  type        = number
  default     = 2
}

variable "max_tasks" {
  description = "Most gateway tasks the CPU autoscaling may run."
  type        = number
  default     = 6
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the service scales to."
  type        = number
  default     = 60
}

variable "vpc_cidr" {
  description = "The VPC's address range: two /24 public subnets (the NLB) and two /24 isolated ones (the tasks) are cut from it."
  type        = string
  default     = "10.80.0.0/16"
}

variable "availability_zones" {
  description = "The two availability zones (by name) of the subnets. null = the region's first two available, in name order."
  type        = list(string)
  default     = null
  validation {
    condition     = var.availability_zones == null || length(coalesce(var.availability_zones, [])) == 2
    error_message = "availability_zones must name exactly two zones."
  }
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention (the gateway, the flow logs, secrets-init)."
  type        = number
  default     = 365
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the secrets' KMS key is deleted."
  type        = number
  default     = 30
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the two secrets on destroy (0 deletes at once, so a redeploy can reuse the names)."
  type        = number
  default     = 7
}

variable "retain_on_destroy" {
  description = "Keep the ledger (deletion protection) when the module is destroyed. Set false before a deliberate teardown."
  type        = bool
  default     = true
}
