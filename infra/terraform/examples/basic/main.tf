# Example root module: one oncelink deployment in eu-west-1 (edge pieces in us-east-1).
#
#   bash tests/infra/build-zips.sh
#   terraform init && terraform apply -var artifacts_dir=$HOME/.cache/oncelink/target-arm64/lambda
#   (issue-url, viewer-request and ledger-events zips)

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0"
    }
  }
}

variable "region" {
  description = "Home region: the bucket, the ledger, SSM and the Rust functions."
  type        = string
  default     = "eu-west-1"
}

variable "mode" {
  description = "sealed or presigned."
  type        = string
  default     = "sealed"
}

variable "artifacts_dir" {
  description = "cargo lambda output (contains issue-url/, viewer-request/ and ledger-events/bootstrap.zip)."
  type        = string
}

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
}

module "oncelink" {
  source = "../../modules/oncelink"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  deployment_name = "demo"
  mode            = var.mode
  artifacts_dir   = var.artifacts_dir
  key_prefix      = "shared/"
  issuer_auth     = "iam"
  waf_rate_limit  = 1000
}

output "api_url" {
  description = "Issue API base URL."
  value       = module.oncelink.api_url
}

output "cdn_domain" {
  description = "Links are served from here."
  value       = module.oncelink.cdn_domain
}

output "table_name" {
  description = "The ledger table."
  value       = module.oncelink.table_name
}

output "bucket_name" {
  description = "Objects to link."
  value       = module.oncelink.bucket_name
}
