//! The edge's configuration: what it is, where it comes from, and how it is cached.
//!
//! Lambda@Edge functions cannot have environment variables, so the validator reads its
//! configuration from SSM Parameter Store in the home region, under a prefix derived from its
//! own function name (see [`naming`]).

use async_trait::async_trait;

pub mod cache;
pub mod naming;
pub mod ssm;

pub use cache::ConfigCache;
pub use ssm::SsmConfigSource;

/// Everything the viewer-request function needs beyond the request itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// The DynamoDB ledger table.
    pub table_name: String,
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
