//! The edge's configuration: what it is, where it comes from, and how it is cached.
//!
//! Lambda@Edge functions cannot have environment variables, so the validator reads its
//! configuration from SSM Parameter Store in the home region, under a prefix derived from its
//! own function name (see [`naming`]).

use async_trait::async_trait;

pub mod cache;
pub mod naming;
#[cfg(feature = "aws")]
pub mod ssm;

pub use cache::ConfigCache;
#[cfg(feature = "aws")]
pub use ssm::SsmConfigSource;

use serde::{Deserialize, Serialize};

use crate::sealed::KeySet;

/// How links are made, per deployment (a CloudFront distribution is one or the other: OAC and
/// presigned query auth exclude each other at S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Our HMAC token, verified and stripped at the edge; S3 reached only through OAC.
    Sealed,
    /// SigV4 presigned S3 URLs with the host swapped; S3 verifies them (and can be called directly).
    Presigned,
}

impl LinkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Presigned => "presigned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "sealed" => Some(Self::Sealed),
            "presigned" => Some(Self::Presigned),
            _ => None,
        }
    }
}

/// Everything the edge decision needs beyond the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// The DynamoDB ledger table.
    pub table_name: String,
    pub mode: LinkMode,
    /// Sealed mode: the keys that verify tokens.
    pub keys: Option<KeySet>,
    /// User-Agent substrings (case-insensitive) of link-preview crawlers and mail scanners:
    /// they get an empty, non-consuming answer.
    pub preview_agents: Vec<String>,
}

impl EdgeConfig {
    /// A presigned-mode configuration with the default preview agents.
    pub fn presigned(table_name: impl Into<String>) -> Self {
        Self { table_name: table_name.into(), mode: LinkMode::Presigned, keys: None, preview_agents: default_preview_agents() }
    }

    /// A sealed-mode configuration with the default preview agents.
    pub fn sealed(table_name: impl Into<String>, keys: KeySet) -> Self {
        Self { table_name: table_name.into(), mode: LinkMode::Sealed, keys: Some(keys), preview_agents: default_preview_agents() }
    }
}

/// Known link-preview bots and mail-security scanners that fetch links before a person does.
pub const DEFAULT_PREVIEW_AGENTS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "linkedinbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "skypeuripreview",
    "microsoft office",
    "ms office",
    "outlook",
    "teams",
    "googlebot",
    "google-pagerenderer",
    "bingbot",
    "bingpreview",
    "applebot",
    "iframely",
    "embedly",
    "pinterest",
    "redditbot",
    "mattermost",
    "zoom",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "trendmicro",
];

pub fn default_preview_agents() -> Vec<String> {
    DEFAULT_PREVIEW_AGENTS.iter().map(|s| (*s).to_owned()).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration parameter {0} does not exist")]
    Missing(String),
    #[error("configuration parameter {name} is invalid: {problem}")]
    Invalid { name: String, problem: String },
    #[error("configuration store unavailable: {0}")]
    Unavailable(String),
}

/// Where configuration comes from (SSM in production; anything in tests).
#[async_trait]
pub trait ConfigSource: Send + Sync {
    async fn load(&self) -> Result<EdgeConfig, ConfigError>;
}

#[async_trait]
impl<S: ConfigSource + ?Sized> ConfigSource for std::sync::Arc<S> {
    async fn load(&self) -> Result<EdgeConfig, ConfigError> {
        (**self).load().await
    }
}

/// A configuration known up front (the gateway's, or a test's).
#[derive(Debug, Clone)]
pub struct StaticConfig(pub EdgeConfig);

#[async_trait]
impl ConfigSource for StaticConfig {
    async fn load(&self) -> Result<EdgeConfig, ConfigError> {
        Ok(self.0.clone())
    }
}
