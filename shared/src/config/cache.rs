//! A per-process cache in front of a [`ConfigSource`].
//!
//! * The first caller loads; concurrent callers wait for that one load (single flight).
//! * A failed load is never cached: the next request tries again. (This is the semantics of
//!   an async once cell's `get_or_try_init`.)
//! * With a refresh interval, a value older than it is reloaded; if that reload fails, the last
//!   good value keeps being served (stale beats down) and the next attempt waits a short back-off.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{ConfigError, ConfigSource};

/// After a failed refresh, serve stale for this long before asking the source again.
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Loaded<T> {
    config: Arc<T>,
    /// When to ask the source again (`None`: never).
    refresh_at: Option<Instant>,
}

pub struct ConfigCache<S: ConfigSource> {
    source: S,
    refresh_every: Option<Duration>,
    current: RwLock<Option<Loaded<S::Config>>>,
    loading: Mutex<()>,
}

impl<S: ConfigSource> ConfigCache<S> {
    /// `refresh_every: None` loads once per process (until a load succeeds).
    pub fn new(source: S, refresh_every: Option<Duration>) -> Self {
        Self { source, refresh_every, current: RwLock::new(None), loading: Mutex::new(()) }
    }

    /// The cached value if it needs no refresh now.
    fn fresh(&self) -> Option<Arc<S::Config>> {
        let current = self.current.read().ok()?;
        let loaded = current.as_ref()?;
        match loaded.refresh_at {
            Some(at) if Instant::now() >= at => None,
            _ => Some(loaded.config.clone()),
        }
    }

    fn stale(&self) -> Option<Arc<S::Config>> {
        self.current.read().ok()?.as_ref().map(|l| l.config.clone())
    }

    fn store(&self, config: Arc<S::Config>, refresh_in: Option<Duration>) {
        if let Ok(mut current) = self.current.write() {
            *current = Some(Loaded { config, refresh_at: refresh_in.map(|d| Instant::now() + d) });
        }
    }

    pub async fn get(&self) -> Result<Arc<S::Config>, ConfigError> {
        if let Some(config) = self.fresh() {
            return Ok(config);
        }
        let _single_flight = self.loading.lock().await;
        // Someone else may have loaded while we waited for the lock.
        if let Some(config) = self.fresh() {
            return Ok(config);
        }
        match self.source.load().await {
            Ok(config) => {
                let config = Arc::new(config);
                self.store(config.clone(), self.refresh_every);
                Ok(config)
            }
            Err(error) => match self.stale() {
                Some(stale) => {
                    tracing::warn!(%error, "configuration refresh failed; serving the last good value");
                    self.store(stale.clone(), Some(RETRY_AFTER_FAILED_REFRESH));
                    Ok(stale)
                }
                None => Err(error),
            },
        }
    }
}
