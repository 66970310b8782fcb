//! The production wiring of the edge service: configuration from SSM, ledger in DynamoDB (the
//! table SSM names), both in the home region, with timeouts that fit inside the edge shim's wait.

use std::sync::Arc;
use std::time::Duration;

use super::EdgeService;
use crate::config::{ConfigCache, SsmConfigSource};
use crate::decision::EdgePolicy;
use crate::ledger::DynamoDbTables;

/// The edge service as the viewer-request function runs it.
pub type AwsEdge = EdgeService<SsmConfigSource, DynamoDbTables>;

/// The AWS SDK timeouts of the validator. The Lambda@Edge shim waits about 3 s for the regional
/// function (Lambda@Edge itself allows 5 s), so every SSM or DynamoDB call gives up well before:
/// 500 ms to connect, 1 s per attempt, 2 s for the whole call including the SDK's retries. The
/// function and the fault-injection tests use exactly this.
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(1000))
        .operation_timeout(Duration::from_millis(2000))
        .build()
}

impl AwsEdge {
    /// Configuration from SSM under `prefix`, ledger in DynamoDB, both through clients built
    /// from `sdk` (which must be for the home region).
    pub fn on_aws(sdk: &aws_config::SdkConfig, prefix: String, policy: EdgePolicy, refresh: Option<Duration>) -> Self {
        Self::with_clients(aws_sdk_ssm::Client::new(sdk), aws_sdk_dynamodb::Client::new(sdk), prefix, policy, refresh)
    }

    /// Same, with explicit clients (e.g. SSM and DynamoDB on different endpoints).
    pub fn with_clients(
        ssm: aws_sdk_ssm::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        prefix: String,
        policy: EdgePolicy,
        refresh: Option<Duration>,
    ) -> Self {
        let config = Arc::new(ConfigCache::new(SsmConfigSource::new(ssm, prefix), refresh));
        Self::new(policy, config, DynamoDbTables(dynamodb))
    }
}
