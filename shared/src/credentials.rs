//! The credentials port: what signs presigned links and the requests to the origin.
//!
//! Like the ledger, credentials are pulled only when something needs them: the issue API asks
//! for them when a route signs a presigned link, the gateway when it signs an origin request.
//!
//! * [`FixedCredentials`]: a key pair known up front (the gateway's embedded origin, tests).
//! * [`CachedCredentials`]: any AWS provider (the default chain: environment, profile, container
//!   or instance role), asked again only when the cached credentials come within five minutes of
//!   their expiry, so every link signed with them stays valid for at least that long.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use tokio::sync::Mutex;

/// Credentials are refreshed when they have less than this left.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// No credentials could be had. The detail is for the log, never for the caller.
#[derive(Debug, Clone, thiserror::Error)]
#[error("credentials unavailable: {0}")]
pub struct CredentialsError(pub String);

#[async_trait]
pub trait CredentialSource: Send + Sync {
    async fn credentials(&self) -> Result<Credentials, CredentialsError>;
}

#[async_trait]
impl<S: CredentialSource + ?Sized> CredentialSource for std::sync::Arc<S> {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        (**self).credentials().await
    }
}

/// A key pair known up front.
#[derive(Debug, Clone)]
pub struct FixedCredentials(pub Credentials);

#[async_trait]
impl CredentialSource for FixedCredentials {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// An AWS credentials provider behind a cache.
#[derive(Debug)]
pub struct CachedCredentials<P> {
    provider: P,
    cached: Mutex<Option<Credentials>>,
}

impl<P: ProvideCredentials> CachedCredentials<P> {
    pub fn new(provider: P) -> Self {
        Self { provider, cached: Mutex::new(None) }
    }
}

#[async_trait]
impl<P: ProvideCredentials> CredentialSource for CachedCredentials<P> {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let mut slot = self.cached.lock().await;
        if let Some(credentials) = slot.as_ref()
            && credentials.expiry().is_none_or(|e| e > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        {
            return Ok(credentials.clone());
        }
        let fresh = self.provider.provide_credentials().await.map_err(|e| CredentialsError(e.to_string()))?;
        *slot = Some(fresh.clone());
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::provider::future::ProvideCredentials as ProvideFuture;

    use super::*;

    /// Counts how often it is asked; hands out credentials expiring `lifetime` from now.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        lifetime: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> ProvideFuture<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = SystemTime::now() + self.lifetime;
            ProvideFuture::ready(Ok(Credentials::new(format!("AKID{n}"), "secret", None, Some(expiry), "counting")))
        }
    }

    #[tokio::test]
    async fn the_provider_is_asked_again_only_near_expiry() {
        let calls = Arc::new(AtomicUsize::new(0));
        let long = CachedCredentials::new(Counting { calls: calls.clone(), lifetime: Duration::from_secs(3600) });
        for _ in 0..3 {
            assert_eq!(long.credentials().await.unwrap().access_key_id(), "AKID0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let calls = Arc::new(AtomicUsize::new(0));
        let short = CachedCredentials::new(Counting { calls: calls.clone(), lifetime: Duration::from_secs(60) });
        short.credentials().await.unwrap();
        short.credentials().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "credentials within 5 minutes of expiry are refreshed");
    }
}
