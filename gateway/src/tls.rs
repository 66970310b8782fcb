//! TLS for viewers: `--tls-cert` and `--tls-key` (PEM files), offered with ALPN `h2` and
//! `http/1.1`, and picked up again when the files change.
//!
//! Certificates are short-lived nowadays (ACME renews them every few weeks), so a gateway that
//! needs a restart for a new one drops transfers on every renewal. Here the handshake asks a
//! [`CertStore`] for the certificate each time; [`CertStore::spawn_reloader`] looks at the two
//! files every [`RELOAD_CHECK`] and, when either changed, reads both again and swaps the pair in.
//! Connections already open keep the session they have; only new handshakes see the new pair.
//!
//! A pair that does not load (a half-written file, a key that does not match the certificate)
//! never replaces a good one: the error is logged, the old pair keeps serving, and the next
//! change is tried again. At start the same error stops the gateway instead (one line, exit 1).
//!
//! Renewal tools replace files in different ways (certbot swaps symlinks, Kubernetes swaps a
//! directory symlink, others write in place); the check follows symlinks and compares each
//! file's modification time, size and inode, so all of them are seen.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate and key files are looked at.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The protocols offered in the handshake, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate and key did not load.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("the key in {key} does not fit the certificate in {cert}: {reason}")]
    Mismatch { cert: String, key: String, reason: String },
    #[error("TLS set-up: {0}")]
    Setup(String),
}

/// The certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks the pair.
    pub fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let shown = |p: &Path| p.display().to_string();
        let read = |p: &Path| std::fs::read(p).map_err(|e| TlsError::Read { path: shown(p), reason: e.to_string() });
        let (cert_pem, key_pem) = (read(&self.cert)?, read(&self.key)?);
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Read { path: shown(&self.cert), reason: e.to_string() })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(shown(&self.cert)));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey(shown(&self.key)))?;
        CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
            cert: shown(&self.cert),
            key: shown(&self.key),
            reason: e.to_string(),
        })
    }

    /// What identifies the files' current contents without reading them.
    fn stamp(&self) -> Option<[FileStamp; 2]> {
        Some([FileStamp::of(&self.cert)?, FileStamp::of(&self.key)?])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).ok()?;
        Some(Self { modified: meta.modified().ok(), len: meta.len(), inode: meta.ino() })
    }
}

/// The certificate the next handshake gets.
#[derive(Debug)]
pub struct CertStore {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Loads the pair; an error here stops the start.
    pub fn open(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let first = files.load(&provider)?;
        Ok(Arc::new(Self { files, provider, current: RwLock::new(Arc::new(first)) }))
    }

    /// The acceptor for viewers' connections: TLS 1.2 and 1.3, ALPN h2 and http/1.1.
    pub fn acceptor(self: &Arc<Self>) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Reads the files again and swaps the pair in; the old one stays on error.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = self.files.load(&self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(fresh);
        }
        Ok(())
    }

    /// Watches the files every [`RELOAD_CHECK`] for as long as the store is in use.
    pub fn spawn_reloader(self: &Arc<Self>) {
        let store = Arc::downgrade(self);
        let mut seen = self.files.stamp();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RELOAD_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                let now = store.files.stamp();
                if now == seen || now.is_none() {
                    continue;
                }
                seen = now;
                match store.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(error) => tracing::warn!(%error, "TLS certificate files changed but do not load; the previous certificate stays"),
                }
            }
        });
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// Whether a finished handshake chose HTTP/2.
pub fn negotiated_h2<IO>(stream: &tokio_rustls::server::TlsStream<IO>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(b"h2")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> TlsFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![format!("{name}.test")]).unwrap().self_signed(&key).unwrap();
        let files = TlsFiles { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    #[test]
    fn a_good_pair_loads_and_bad_ones_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let (a, b) = (pair(dir.path(), "a"), pair(dir.path(), "b"));
        assert!(a.load(&provider).is_ok());

        let crossed = TlsFiles { cert: a.cert.clone(), key: b.key.clone() };
        assert!(matches!(crossed.load(&provider), Err(TlsError::Mismatch { .. })), "a key of another certificate");
        let swapped = TlsFiles { cert: a.key.clone(), key: a.cert.clone() };
        assert!(matches!(swapped.load(&provider), Err(TlsError::NoCertificate(_))), "the files given the wrong way round");
        let missing = TlsFiles { cert: dir.path().join("none.crt"), key: a.key.clone() };
        let error = missing.load(&provider).unwrap_err().to_string();
        assert!(error.starts_with("cannot read ") && error.contains("none.crt"), "{error}");
        std::fs::write(dir.path().join("half.key"), "-----BEGIN PRIVATE KEY-----\nMIGH").unwrap();
        let half = TlsFiles { cert: a.cert.clone(), key: dir.path().join("half.key") };
        assert!(matches!(half.load(&provider), Err(TlsError::NoKey(_))), "a half-written key");
    }

    #[test]
    fn a_pair_that_does_not_load_never_replaces_the_one_serving() {
        let dir = tempfile::tempdir().unwrap();
        let files = pair(dir.path(), "live");
        let store = CertStore::open(files.clone()).unwrap();
        let before = store.current.read().unwrap().cert.clone();
        std::fs::write(&files.cert, "not a certificate").unwrap();
        assert!(store.reload().is_err());
        assert_eq!(store.current.read().unwrap().cert, before);

        let next = pair(dir.path(), "next");
        std::fs::rename(&next.cert, &files.cert).unwrap();
        std::fs::rename(&next.key, &files.key).unwrap();
        store.reload().unwrap();
        assert_ne!(store.current.read().unwrap().cert, before);
    }
}
