# Example root module: the oncelink gateway behind two static IPs in eu-west-1.
#
#   terraform init
#   terraform apply -var domain_name=files.example.com -var acm_certificate_arn=arn:aws:acm:… \
#     -var image_repository_url=<account>.dkr.ecr.eu-west-1.amazonaws.com/oncelink -var image_tag=0.1.0 \
#     [-var route53_zone_id=Z…]

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
  description = "Where the VPC, the NLB, the tasks, the ledger and the bucket live."
  type        = string
  default     = "eu-west-1"
}

variable "domain_name" {
  description = "The one domain for the API and the links."
  type        = string
}

variable "acm_certificate_arn" {
  description = "ACM certificate for domain_name in var.region."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of domain_name for the A alias (null: set the DNS records yourself)."
  type        = string
  default     = null
}

variable "image_repository_url" {
  description = "ECR repository of the gateway image."
  type        = string
}

variable "image_tag" {
  description = "Image tag to run."
  type        = string
}

variable "mode" {
  description = "sealed or presigned."
  type        = string
  default     = "sealed"
}

provider "aws" {
  region = var.region
}

module "oncelink" {
  source = "../../modules/oncelink-static-ip"

  deployment_name      = "demo"
  mode                 = var.mode
  domain_name          = var.domain_name
  acm_certificate_arn  = var.acm_certificate_arn
  route53_zone_id      = var.route53_zone_id
  image_repository_url = var.image_repository_url
  image_tag            = var.image_tag
}

output "public_url" {
  description = "The API, the web page and the links."
  value       = module.oncelink.public_url
}

output "static_ips" {
  description = "The two static IPs."
  value       = module.oncelink.static_ips
}

output "accelerator_dns_name" {
  description = "CNAME target for the domain."
  value       = module.oncelink.accelerator_dns_name
}

output "api_token_secret_arn" {
  description = "Where the API token is."
  value       = module.oncelink.api_token_secret_arn
}

output "bucket_name" {
  description = "Objects to link."
  value       = module.oncelink.bucket_name
}
