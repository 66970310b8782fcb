//! An object's metadata: the headers it was uploaded with, beside the object file.
//!
//! The object itself is a plain file, `objects/<bucket>/<key>`, so an operator can drop files in
//! by hand. What an upload said about it (`Content-Type`, `Content-Disposition`, …, and its
//! ETag) lives in a sidecar in `objects/`, in the format and at the path s3s-fs used for the
//! embedded origin before (`.bucket-<b64>.object-<b64>.metadata.json`), so data dirs written by
//! earlier versions keep their metadata.
//!
//! A sidecar written by us also names the size and modification time of the file it describes,
//! and applies only to that file: an object replaced by hand no longer inherits the old
//! upload's type or ETag. (A sidecar from s3s-fs, without them, always applies.)

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Longest sidecar file name before the key is hashed instead (file names stop at 255 bytes).
const MAX_NAME: usize = 240;

/// The upload's headers, and what they describe.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// An HTTP-date (s3s-fs wrote RFC 3339: such a value is not sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The quoted ETag the upload was answered with (an MD5 of the body, as S3's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// The object file this describes: its size and modification time (ns since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<u64>,
}

impl Meta {
    /// Does this sidecar describe a file of this size and modification time?
    pub fn describes(&self, size: u64, modified: SystemTime) -> bool {
        match (self.size, self.modified_ns) {
            (Some(s), Some(m)) => s == size && Some(m) == nanos(modified),
            // s3s-fs's sidecars name no file: they always applied.
            _ => true,
        }
    }
}

/// Nanoseconds since the epoch (`None` before 1970 or after 2554).
pub fn nanos(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().and_then(|d| u64::try_from(d.as_nanos()).ok())
}

#[cfg(test)]
fn from_nanos(ns: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_nanos(ns)
}

/// Where the sidecar of `bucket`/`key` lives under the objects directory `root`.
pub fn sidecar_path(root: &Path, bucket: &str, key: &str) -> PathBuf {
    let bucket = URL_SAFE_NO_PAD.encode(bucket);
    let name = format!(".bucket-{bucket}.object-{}.metadata.json", URL_SAFE_NO_PAD.encode(key));
    if name.len() <= MAX_NAME {
        return root.join(name);
    }
    root.join(format!(".bucket-{bucket}.object-sha256-{}.metadata.json", hex::encode(Sha256::digest(key.as_bytes()))))
}

/// Reads a sidecar (blocking). No sidecar, or one that cannot be read as one, is no metadata:
/// the object is still served, as a file without a declared type.
pub fn load(path: &Path) -> Option<Meta> {
    let raw = std::fs::read(path).ok()?;
    match serde_json::from_slice(&raw) {
        Ok(meta) => Some(meta),
        Err(error) => {
            tracing::warn!(%error, "an object's metadata file is unreadable; serving the object without it");
            None
        }
    }
}

/// Writes a sidecar (blocking): to a temporary file in the same directory, synced, then renamed
/// over the old one, so a reader sees the old sidecar or the new one, never half of one.
pub fn store(path: &Path, meta: &Meta, temp: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(temp)?;
    file.write_all(&serde_json::to_vec(meta).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(temp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_s3s_fs_wrote() {
        let meta: Meta =
            serde_json::from_str(r#"{"user_metadata":{"a":"b"},"content_type":"text/plain","content_disposition":"attachment"}"#).unwrap();
        assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
        assert!(meta.describes(1, SystemTime::now()), "an s3s-fs sidecar names no file: it always applies");
    }

    #[test]
    fn ours_apply_only_to_their_file() {
        let t = from_nanos(1_800_000_000_123_456_789);
        let meta = Meta { size: Some(5), modified_ns: nanos(t), ..Meta::default() };
        assert!(meta.describes(5, t));
        assert!(!meta.describes(6, t));
        assert!(!meta.describes(5, t + std::time::Duration::from_nanos(1)));
    }

    #[test]
    fn long_keys_get_a_hashed_name_within_the_file_name_limit() {
        let root = Path::new("/o");
        assert_eq!(sidecar_path(root, "b", "k"), Path::new("/o/.bucket-Yg.object-aw.metadata.json"));
        let long = "k".repeat(1024);
        let path = sidecar_path(root, "b", &long);
        assert!(path.file_name().unwrap().len() < 255, "{path:?}");
        assert_ne!(path, sidecar_path(root, "b", &"k".repeat(1023)));
    }
}
