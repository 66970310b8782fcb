//! The bench result file: `$BENCH_OUT/<part>.json`. The gateway bench's shell scripts write
//! the same shape, so field names here are a contract; change them only together.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One part of the report (a section of `docs/benchmarks.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartResult {
    /// The file stem; also the sort key of the sections.
    pub part: String,
    pub title: String,
    /// How it was measured, 1-3 sentences.
    pub method: String,
    pub rows: Vec<Row>,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub charts: Vec<Chart>,
}

/// One measured number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub subject: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Row {
    pub fn new(subject: impl Into<String>, metric: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Self { subject: subject.into(), metric: metric.into(), value, unit: unit.into(), ratio: None, note: None }
    }

    pub fn ratio(mut self, ratio: impl Into<String>) -> Self {
        self.ratio = Some(ratio.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// A goal the project set itself, and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub met: bool,
    /// Required when `met` is false: where the time goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// A bar chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub value: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a bench result file: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
}

/// Where result files go: `$BENCH_OUT`, else `<repo>/target/bench-results`.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("BENCH_OUT") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target").join("bench-results"),
    }
}

/// The workspace root (this crate lives in `<repo>/bench`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

impl PartResult {
    /// Writes `<dir>/<part>.json`; returns its path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, ResultError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ResultError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(format!("{}.json", self.part));
        let json = serde_json::to_string_pretty(self).map_err(|source| ResultError::Json { path: path.clone(), source })?;
        std::fs::write(&path, json + "\n").map_err(io(&path))?;
        Ok(path)
    }

    /// Reads one result file.
    pub fn read(path: &Path) -> Result<Self, ResultError> {
        let raw = std::fs::read_to_string(path).map_err(|source| ResultError::Io { path: path.to_path_buf(), source })?;
        serde_json::from_str(&raw).map_err(|source| ResultError::Json { path: path.to_path_buf(), source })
    }
}
