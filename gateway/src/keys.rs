//! The sealed-link key set as the core's configuration source.
//!
//! | where the keys are | source | changes |
//! |---|---|---|
//! | `<data dir>/keys.json` (default) | [`KeyFile`], behind a cache refreshed every second | `oncelink keys rotate`: picked up within a second |
//! | `ONCELINK_KEYS` (a fleet) | [`StaticConfig`] | restart with the new value |
//! | presigned mode | [`StaticConfig`] without keys | – |
//!
//! A key file that cannot be read after a change leaves the last good key set in use (the
//! core's [`ConfigCache`] serves stale and retries), so a half-written file never stops links.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oncelink::config::{ConfigCache, ConfigError, ConfigSource, EdgeConfig, StaticConfig};
use oncelink::sealed::KeySet;

/// The gateway's configuration source, whichever it is.
pub type GatewayConfig = Arc<dyn ConfigSource<Config = EdgeConfig>>;

/// How often the key file is looked at again.
pub const KEY_FILE_REFRESH: Duration = Duration::from_secs(1);

/// `keys.json`, read on every refresh; a change of the key ids is logged.
pub struct KeyFile {
    path: PathBuf,
    last_kids: Mutex<Option<(String, Vec<String>)>>,
}

impl KeyFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path, last_kids: Mutex::new(None) }
    }
}

#[async_trait]
impl ConfigSource for KeyFile {
    type Config = EdgeConfig;

    async fn load(&self) -> Result<EdgeConfig, ConfigError> {
        let name = self.path.display().to_string();
        let raw = tokio::fs::read_to_string(&self.path).await.map_err(|e| ConfigError::Unavailable(format!("{name}: {e}")))?;
        let keys = KeySet::parse_json(&raw).map_err(|e| ConfigError::Invalid { name, problem: e.to_string() })?;
        let now = (keys.active_kid().to_owned(), keys.kids().map(str::to_owned).collect::<Vec<_>>());
        if let Ok(mut last) = self.last_kids.lock()
            && last.as_ref() != Some(&now)
        {
            if last.is_some() {
                tracing::info!(active_kid = %now.0, kids = ?now.1, "reloaded the sealed-link key set");
            }
            *last = Some(now);
        }
        Ok(EdgeConfig::sealed(keys))
    }
}

/// The configuration cache for one of the three sources above.
pub fn config_cache(source: GatewayConfig, refreshes: bool) -> Arc<ConfigCache<GatewayConfig>> {
    Arc::new(ConfigCache::new(source, refreshes.then_some(KEY_FILE_REFRESH)))
}

/// A fixed configuration (keys from the environment, or presigned mode).
pub fn fixed(config: EdgeConfig) -> GatewayConfig {
    Arc::new(StaticConfig(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_rotated_key_file_is_picked_up_and_a_broken_one_leaves_the_last_good_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let mut keys = KeySet::generate("k1").unwrap();
        std::fs::write(&path, keys.to_json()).unwrap();
        let cache = config_cache(Arc::new(KeyFile::new(path.clone())), true);
        let active = |config: Arc<EdgeConfig>| config.keys.as_ref().unwrap().active_kid().to_owned();
        assert_eq!(active(cache.get().await.unwrap()), "k1");

        keys.rotate("k2").unwrap();
        std::fs::write(&path, keys.to_json()).unwrap();
        assert_eq!(active(cache.get().await.unwrap()), "k1", "cached until the next refresh");
        tokio::time::advance(KEY_FILE_REFRESH).await;
        assert_eq!(active(cache.get().await.unwrap()), "k2");

        std::fs::write(&path, "{half a file").unwrap();
        tokio::time::advance(KEY_FILE_REFRESH).await;
        assert_eq!(active(cache.get().await.unwrap()), "k2", "a broken file does not stop the links");
        assert!(KeyFile::new(path).load().await.is_err());
    }
}
