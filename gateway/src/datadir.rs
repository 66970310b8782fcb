//! The data directory: secrets (0600), the ledger file, the embedded origin's objects.
//!
//! ```text
//! <data dir>/api-token                 bearer token of /_oncelink/links and key of the page's session cookies (unless ONCELINK_API_TOKEN)
//! <data dir>/keys.json                 sealed-link key set {"active", "keys": {kid: secret}}
//! <data dir>/origin-credentials.json   access key pair that signs presigned links to the data dir's objects
//! <data dir>/webhook.secret            key of the webhook's Oncelink-Signature (unless ONCELINK_WEBHOOK_SECRET)
//! <data dir>/ledger.journal            the file ledger (and the webhook's outbox)
//! <data dir>/objects/<bucket>/…        the embedded origin's objects
//! ```

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oncelink::sealed::KeySet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// A generated access key pair for the embedded origin.
#[derive(Clone, Serialize, Deserialize)]
pub struct OriginCredentials {
    pub access_key: String,
    pub secret_key: String,
}

pub fn random_token(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// Writes `contents` to `path` with mode 0600, atomically (temp file, fsync, rename).
pub fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// New files 0600, new directories 0700, for the whole process.
fn private_umask() {
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Directories 0700 and files 0600, all the way down (symbolic links are left alone).
fn make_private(dir: &Path) -> std::io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            make_private(&entry.path())?;
        } else if kind.is_file() && entry.metadata()?.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

fn read_secret(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl DataDir {
    /// Opens the directory, creating it when missing. Everything in it is the owner's alone:
    /// directories 0700, files 0600 — those already there are put right, and the process's
    /// umask (077) keeps whatever the ledger and the embedded origin create the same.
    pub fn create(root: &Path) -> anyhow::Result<Self> {
        private_umask();
        fs::create_dir_all(root).with_context(|| format!("cannot create the data dir {}", root.display()))?;
        make_private(root).with_context(|| format!("cannot make {} private", root.display()))?;
        Ok(Self { root: root.to_owned() })
    }

    /// Opens an existing directory (for subcommands that must not create one).
    pub fn existing(root: &Path) -> anyhow::Result<Self> {
        if !root.is_dir() {
            bail!("no data dir at {} (start `oncelink serve` once, or pass --data-dir)", root.display());
        }
        Ok(Self { root: root.to_owned() })
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.root.join("ledger.journal")
    }

    /// The ledger file of versions before the journal (imported once, then renamed aside).
    pub fn redb_ledger_path(&self) -> PathBuf {
        self.root.join("ledger.redb")
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.root.join("objects")
    }

    pub fn keys_path(&self) -> PathBuf {
        self.root.join("keys.json")
    }

    pub fn token_path(&self) -> PathBuf {
        self.root.join("api-token")
    }

    /// The API token: read, or generated and stored on first start. Returns (token, generated now).
    pub fn api_token(&self) -> anyhow::Result<(String, bool)> {
        let path = self.token_path();
        if let Some(token) = read_secret(&path)?.filter(|t| !t.is_empty()) {
            return Ok((token, false));
        }
        let token = random_token(24)?;
        write_secret(&path, &token)?;
        Ok((token, true))
    }

    /// The stored API token, without creating one.
    pub fn read_api_token(&self) -> anyhow::Result<Option<String>> {
        read_secret(&self.token_path())
    }

    pub fn webhook_secret_path(&self) -> PathBuf {
        self.root.join("webhook.secret")
    }

    /// The webhook's signing secret: read, or generated on first start (32 random bytes,
    /// base64url). Receivers key their HMAC with this text.
    pub fn webhook_secret(&self) -> anyhow::Result<String> {
        let path = self.webhook_secret_path();
        if let Some(secret) = read_secret(&path)?.filter(|s| !s.is_empty()) {
            return Ok(secret);
        }
        let secret = random_token(32)?;
        write_secret(&path, &secret)?;
        Ok(secret)
    }

    /// The sealed-link key set: read, or generated on first start.
    pub fn keys(&self) -> anyhow::Result<KeySet> {
        let path = self.keys_path();
        if let Some(raw) = read_secret(&path)? {
            return KeySet::parse_json(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
        }
        let keys = KeySet::generate(&new_kid())?;
        write_secret(&path, &keys.to_json())?;
        Ok(keys)
    }

    /// Adds a new active key, keeping the old ones; returns the new set.
    pub fn rotate_keys(&self) -> anyhow::Result<KeySet> {
        let path = self.keys_path();
        let raw = read_secret(&path)?.with_context(|| format!("no key set at {} yet (start `oncelink serve` once)", path.display()))?;
        let mut keys = KeySet::parse_json(&raw).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        keys.rotate(&new_kid())?;
        write_secret(&path, &keys.to_json())?;
        Ok(keys)
    }

    /// The embedded origin's access key pair: read, or generated on first start.
    pub fn origin_credentials(&self) -> anyhow::Result<OriginCredentials> {
        let path = self.root.join("origin-credentials.json");
        if let Some(raw) = read_secret(&path)? {
            let creds: OriginCredentials = serde_json::from_str(&raw).with_context(|| format!("{} is not valid", path.display()))?;
            // Earlier versions drew key ids from URL-safe base64 ('-', '_'), which no SigV4
            // credential scope may hold (links signed with one would be refused as malformed):
            // such a pair is replaced; links it signed could never have worked.
            if is_access_key_id(&creds.access_key) {
                return Ok(creds);
            }
            tracing::warn!(path = %path.display(), "replacing an origin key pair whose key id is not alphanumeric");
        }
        let mut id = [0u8; 9];
        getrandom::getrandom(&mut id).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let creds = OriginCredentials { access_key: format!("OL{}", hex::encode_upper(id)), secret_key: random_token(30)? };
        write_secret(&path, &serde_json::to_string(&creds)?)?;
        Ok(creds)
    }
}

/// What a SigV4 credential scope accepts as a key id (the core's presigned check): letters or digits.
fn is_access_key_id(id: &str) -> bool {
    (3..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Key ids name their creation time: `k<unix seconds>` (unique enough for a manual rotation;
/// a suffix keeps two rotations in one second apart).
fn new_kid() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut suffix = [0u8; 2];
    let _ = getrandom::getrandom(&mut suffix);
    format!("k{secs}-{}", hex::encode(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_key_ids_are_alphanumeric_and_bad_ones_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::create(dir.path()).unwrap();
        for _ in 0..64 {
            fs::remove_file(dir.path().join("origin-credentials.json")).ok();
            let creds = data.origin_credentials().unwrap();
            assert!(is_access_key_id(&creds.access_key), "{}", creds.access_key);
            assert_eq!(data.origin_credentials().unwrap().access_key, creds.access_key, "stable once written");
        }
        write_secret(&dir.path().join("origin-credentials.json"), r#"{"access_key":"OLAB-C_DEFGHIJKL","secret_key":"s"}"#).unwrap();
        let replaced = data.origin_credentials().unwrap();
        assert!(is_access_key_id(&replaced.access_key) && replaced.secret_key != "s", "{}", replaced.access_key);
    }

    #[test]
    fn secrets_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::create(&dir.path().join("d")).unwrap();
        let (token, generated) = data.api_token().unwrap();
        assert!(generated && token.len() >= 32);
        assert_eq!(data.api_token().unwrap(), (token, false));
        let mode = fs::metadata(data.token_path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let keys = data.keys().unwrap();
        assert_eq!(fs::metadata(data.keys_path()).unwrap().permissions().mode() & 0o777, 0o600);
        let rotated = data.rotate_keys().unwrap();
        assert_ne!(rotated.active_kid(), keys.active_kid());
        assert!(rotated.secret(keys.active_kid()).is_some(), "old keys keep verifying");
        assert_eq!(data.keys().unwrap(), rotated);
        let secret = data.webhook_secret().unwrap();
        assert_eq!(secret.len(), 43, "32 bytes, base64url");
        assert_eq!(fs::metadata(data.webhook_secret_path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(data.webhook_secret().unwrap(), secret);
    }
}
