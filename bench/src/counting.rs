//! Counting the network calls a client really makes.
//!
//! The claim to verify is "a warm edge makes exactly one ledger call and no SSM call per
//! request". Counting in our own code would only count what we *meant* to send, so this hooks
//! the SDK itself: `read_before_transmit` runs once per attempt, right before the request goes
//! on the wire (retries included), whatever code path asked for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counts transmitted requests; clone it into a client's config and read it from outside.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    sent: Arc<AtomicU64>,
}

impl CallCounter {
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
