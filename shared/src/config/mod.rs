//! The edge's configuration: what it is, where it comes from, and how it is cached.
//!
//! [`EdgeConfig`] is everything the decision reads besides the request: the link mode, the
//! sealed-link keys and the preview agents. It comes from a [`ConfigSource`] (a port) through a
//! per-process [`ConfigCache`]:
//!
//! | source | used by | yields |
//! |---|---|---|
//! | [`SsmConfigSource`] | the Lambda functions | [`AwsDeployment`]: the edge config and the ledger table's name |
//! | the gateway's key file | `oncelink serve` | an [`EdgeConfig`] whose keys follow `keys.json` |
//! | [`StaticConfig`] | the gateway with `ONCELINK_KEYS` or presigned mode, tests | a fixed value |
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
pub use ssm::{AwsDeployment, SsmConfigSource};

use crate::link::LinkMode;
use crate::sealed::KeySet;

/// Everything the edge decision needs beyond the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    pub mode: LinkMode,
    /// Sealed mode: the keys that verify tokens.
    pub keys: Option<KeySet>,
    /// User-Agent substrings (case-insensitive) of link-preview crawlers and mail scanners:
    /// they get an empty, non-consuming answer.
    pub preview_agents: Vec<String>,
}

impl EdgeConfig {
    /// A presigned-mode configuration with the default preview agents.
    pub fn presigned() -> Self {
        Self { mode: LinkMode::Presigned, keys: None, preview_agents: default_preview_agents() }
    }

    /// A sealed-mode configuration with the default preview agents.
    pub fn sealed(keys: KeySet) -> Self {
        Self { mode: LinkMode::Sealed, keys: Some(keys), preview_agents: default_preview_agents() }
    }
}

impl AsRef<EdgeConfig> for EdgeConfig {
    fn as_ref(&self) -> &EdgeConfig {
        self
    }
}

/// Known link-preview bots and mail-security scanners that fetch links before a person does.
/// Precise names only: a desktop client a person uses (Teams, Slack, Outlook) is never one of
/// them (`decision::audience::PERSON_AGENTS` wins over this list).
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
    "microsoft office existence discovery",
    "googlebot",
    "google-pagerenderer",
    "bingbot",
    "bingpreview",
    "applebot",
    "iframely",
    "embedly",
    "pinterest",
    "redditbot",
    "mattermost-bot",
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

/// Where configuration comes from: the port. `Config` is what one load yields; it always holds
/// the decision's [`EdgeConfig`] (`AsRef`), and may hold more (on AWS: the ledger table's name).
#[async_trait]
pub trait ConfigSource: Send + Sync {
    type Config: AsRef<EdgeConfig> + Send + Sync + 'static;

    async fn load(&self) -> Result<Self::Config, ConfigError>;
}

#[async_trait]
impl<S: ConfigSource + ?Sized> ConfigSource for std::sync::Arc<S> {
    type Config = S::Config;

    async fn load(&self) -> Result<S::Config, ConfigError> {
        (**self).load().await
    }
}

/// A configuration known up front (presigned mode, keys from the environment, tests).
#[derive(Debug, Clone)]
pub struct StaticConfig<T = EdgeConfig>(pub T);

#[async_trait]
impl<T: AsRef<EdgeConfig> + Clone + Send + Sync + 'static> ConfigSource for StaticConfig<T> {
    type Config = T;

    async fn load(&self) -> Result<T, ConfigError> {
        Ok(self.0.clone())
    }
}
