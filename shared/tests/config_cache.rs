//! The per-process configuration cache: single flight, errors never cached, stale on failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use oncelink::config::{ConfigCache, ConfigError, ConfigSource, EdgeConfig};
use tokio::sync::Mutex;

/// A source that answers from a script and counts its calls.
struct Scripted {
    answers: Mutex<Vec<Result<String, ConfigError>>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(answers: Vec<Result<&str, ConfigError>>) -> Arc<Self> {
        let answers = answers.into_iter().rev().map(|a| a.map(str::to_owned)).collect();
        Arc::new(Self { answers: Mutex::new(answers), calls: AtomicUsize::new(0) })
    }
}

/// What one load yields: a label that tells the loads apart, beside the edge's configuration.
struct Labelled {
    table_name: String,
    edge: EdgeConfig,
}

impl AsRef<EdgeConfig> for Labelled {
    fn as_ref(&self) -> &EdgeConfig {
        &self.edge
    }
}

#[async_trait]
impl ConfigSource for Scripted {
    type Config = Labelled;

    async fn load(&self) -> Result<Labelled, ConfigError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await; // let concurrent callers pile up
        let answer = self.answers.lock().await.pop().expect("unexpected extra load");
        answer.map(|table_name| Labelled { table_name, edge: EdgeConfig::presigned() })
    }
}

fn down() -> ConfigError {
    ConfigError::Unavailable("ssm down".into())
}

#[tokio::test]
async fn errors_are_not_cached() {
    let source = Scripted::new(vec![Err(ConfigError::Missing("/oncelink/x/table-name".into())), Ok("t1")]);
    let cache = ConfigCache::new(source.clone(), None);
    assert!(matches!(cache.get().await, Err(ConfigError::Missing(_))));
    assert_eq!(cache.get().await.unwrap().table_name, "t1");
    assert_eq!(cache.get().await.unwrap().table_name, "t1");
    assert_eq!(source.calls.load(Ordering::SeqCst), 2, "loaded once after the error, then cached");
}

#[tokio::test]
async fn concurrent_first_calls_load_once() {
    let source = Scripted::new(vec![Ok("t1")]);
    let cache = Arc::new(ConfigCache::new(source.clone(), None));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let cache = cache.clone();
        tasks.spawn(async move { cache.get().await.unwrap().table_name.clone() });
    }
    while let Some(name) = tasks.join_next().await {
        assert_eq!(name.unwrap(), "t1");
    }
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn refresh_serves_stale_when_the_source_fails_then_recovers() {
    let source = Scripted::new(vec![Ok("t1"), Err(down()), Ok("t2")]);
    let cache = ConfigCache::new(source.clone(), Some(Duration::from_secs(60)));
    assert_eq!(cache.get().await.unwrap().table_name, "t1");
    tokio::time::advance(Duration::from_secs(61)).await;
    // Refresh fails: the last good value is served.
    assert_eq!(cache.get().await.unwrap().table_name, "t1");
    // During the back-off the source is left alone.
    assert_eq!(cache.get().await.unwrap().table_name, "t1");
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(cache.get().await.unwrap().table_name, "t2");
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
}
