//! Reads [`EdgeConfig`] from SSM Parameter Store with one `GetParameters` call.

use async_trait::async_trait;
use aws_sdk_ssm::Client;
use aws_sdk_ssm::error::DisplayErrorContext;

use super::naming::{TABLE_NAME, parameter};
use super::{ConfigError, ConfigSource, EdgeConfig};

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

#[async_trait]
impl ConfigSource for SsmConfigSource {
    async fn load(&self) -> Result<EdgeConfig, ConfigError> {
        let table_param = parameter(&self.prefix, TABLE_NAME);
        let output = self
            .client
            .get_parameters()
            .names(&table_param)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| ConfigError::Unavailable(DisplayErrorContext(&e).to_string()))?;
        let value = output
            .parameters()
            .iter()
            .find(|p| p.name() == Some(table_param.as_str()))
            .and_then(|p| p.value())
            .ok_or_else(|| ConfigError::Missing(table_param.clone()))?;
        let table_name = value.trim();
        let valid = (3..=255).contains(&table_name.len())
            && table_name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(ConfigError::Invalid { name: table_param, problem: "not a DynamoDB table name".into() });
        }
        Ok(EdgeConfig { table_name: table_name.to_owned() })
    }
}
