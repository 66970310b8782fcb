//! Structured logs: one JSON object per line, level from `RUST_LOG` (default `info`).

/// Installs the JSON subscriber. Safe to call more than once (later calls do nothing).
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(false)
        .without_time() // Lambda and most log pipelines stamp lines themselves
        .try_init();
}
