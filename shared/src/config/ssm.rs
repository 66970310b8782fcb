//! Reads an [`AwsDeployment`] from SSM Parameter Store with one `GetParameters` call
//! (`WithDecryption`, for the SecureString key set): the edge's configuration and the name of the
//! ledger table (see [`super::naming`] for the parameters).

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;
use serde::Deserialize;

use super::naming::{EDGE_CONFIG, KEYS, TABLE_NAME, parameter};
use super::{ConfigError, ConfigSource, EdgeConfig, default_preview_agents};
use crate::link::LinkMode;
use crate::sealed::KeySet;

/// What SSM says about a deployment on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsDeployment {
    /// What the decision reads.
    pub edge: EdgeConfig,
    /// The DynamoDB ledger table (`<prefix>/table-name`).
    pub table_name: String,
}

impl AsRef<EdgeConfig> for AwsDeployment {
    fn as_ref(&self) -> &EdgeConfig {
        &self.edge
    }
}

#[derive(Debug, Clone)]
pub struct SsmConfigSource {
    client: Client,
    prefix: String,
}

impl SsmConfigSource {
    /// `client` must be built for the home region (the edge runs everywhere; SSM lives in one).
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into() }
    }
}

/// `<prefix>/edge-config`: optional JSON. Absent means presigned mode with default settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeConfigJson {
    mode: LinkMode,
    #[serde(default)]
    cdn_domain: Option<String>,
    #[serde(default)]
    preview_user_agents: Option<Vec<String>>,
}

#[async_trait]
impl ConfigSource for SsmConfigSource {
    type Config = AwsDeployment;

    async fn load(&self) -> Result<AwsDeployment, ConfigError> {
        let names = [TABLE_NAME, EDGE_CONFIG, KEYS].map(|n| parameter(&self.prefix, n));
        let output = self
            .client
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| ConfigError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        let value = |name: &str| output.parameters().iter().find(|p| p.name() == Some(name)).and_then(|p| p.value()).map(str::to_owned);
        let [table_param, edge_param, keys_param] = &names;

        let table_name = value(table_param).ok_or_else(|| ConfigError::Missing(table_param.clone()))?;
        let table_name = table_name.trim().to_owned();
        let valid = (3..=255).contains(&table_name.len())
            && table_name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConfigError::Invalid { name: table_param.clone(), problem: "not a DynamoDB table name".into() });
        }
        let mut config = EdgeConfig::presigned();
        if let Some(raw) = value(edge_param) {
            let parsed: EdgeConfigJson =
                serde_json::from_str(&raw).map_err(|e| ConfigError::Invalid { name: edge_param.clone(), problem: e.to_string() })?;
            let _ = parsed.cdn_domain; // informational: links are bound to the Host the viewer used
            config.mode = parsed.mode;
            config.preview_agents = parsed
                .preview_user_agents
                .map(|v| v.into_iter().map(|a| a.to_ascii_lowercase()).collect())
                .unwrap_or_else(default_preview_agents);
        }
        if config.mode == LinkMode::Sealed {
            let raw = value(keys_param).ok_or_else(|| ConfigError::Missing(keys_param.clone()))?;
            config.keys =
                Some(KeySet::parse_json(&raw).map_err(|e| ConfigError::Invalid { name: keys_param.clone(), problem: e.to_string() })?);
        }
        Ok(AwsDeployment { edge: config, table_name })
    }
}
