//! Everything the gateway asks of the core, in one place: the edge decision, the issue API,
//! revocation, the key set, and turning a `Forward` into a signed origin request.
//!
//! The gateway has no decision, token or signing logic of its own: `oncelink::decide` says
//! whether a request goes through, `oncelink::issue::handle` issues and revokes,
//! `oncelink::presign::sign_origin_request` signs what goes to the origin (as CloudFront's OAC
//! does in front of S3).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use oncelink::config::{EdgeConfig, LinkMode};
use oncelink::decision::Forward;
use oncelink::issue::{ApiRequest, ApiResponse, IssuerSettings, Signer};
use oncelink::ledger::Ledger;
use oncelink::metrics::DecisionOutcome;
use oncelink::presign::{S3Origin, sign_origin_request};
use oncelink::sealed::KeySet;
use oncelink::{Decision, EdgePolicy, ViewerRequest};

use crate::origin::Signing;

/// Where the sealed-link keys come from.
pub enum KeySource {
    /// `<data dir>/keys.json`, re-read when it changes (`oncelink keys rotate`).
    File(PathBuf),
    /// `ONCELINK_KEYS` (JSON): the same keys on every instance of a fleet.
    Env,
    /// Presigned mode: no keys.
    None,
}

pub struct Edge {
    policy: EdgePolicy,
    config: RwLock<Arc<EdgeConfig>>,
    issuer: IssuerSettings,
    ledger: Arc<dyn Ledger>,
    signing: Arc<Signing>,
    key_source: KeySource,
    keys_modified: RwLock<Option<SystemTime>>,
}

/// Where a forwarded request goes: the URL and the headers that authorise it.
#[derive(Debug, Clone)]
pub struct OriginTarget {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

/// The decision for one viewer request, and where to send it when it goes through.
pub enum Verdict {
    Forward(OriginTarget),
    Preview,
    Deny(oncelink::DenyReason),
    /// The decision allowed the request but the gateway could not build the origin request.
    OriginUnavailable(String),
}

impl Edge {
    pub fn new(
        issuer: IssuerSettings,
        keys: Option<KeySet>,
        key_source: KeySource,
        ledger: Arc<dyn Ledger>,
        signing: Arc<Signing>,
    ) -> Self {
        let config = match (issuer.mode, keys) {
            (LinkMode::Sealed, Some(keys)) => EdgeConfig::sealed("", keys),
            _ => EdgeConfig::presigned(""),
        };
        let keys_modified = match &key_source {
            KeySource::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            _ => None,
        };
        Self {
            policy: EdgePolicy::default(),
            config: RwLock::new(Arc::new(config)),
            issuer,
            ledger,
            signing,
            key_source,
            keys_modified: RwLock::new(keys_modified),
        }
    }

    fn config(&self) -> Arc<EdgeConfig> {
        self.config.read().map(|c| c.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Re-reads `keys.json` if it changed since last time (after `oncelink keys rotate`).
    pub fn reload_keys_if_changed(&self) {
        let KeySource::File(path) = &self.key_source else { return };
        let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) else { return };
        if self.keys_modified.read().map(|m| *m == Some(modified)).unwrap_or(true) {
            return;
        }
        match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|raw| KeySet::parse_json(&raw).map_err(|e| e.to_string())) {
            Ok(keys) => {
                let kids: Vec<String> = keys.kids().map(str::to_owned).collect();
                let active = keys.active_kid().to_owned();
                let mut config = (*self.config()).clone();
                config.keys = Some(keys);
                if let Ok(mut slot) = self.config.write() {
                    *slot = Arc::new(config);
                }
                tracing::info!(active_kid = %active, kids = ?kids, "reloaded the sealed-link key set");
            }
            Err(error) => tracing::error!(%error, "the key set file changed but cannot be read; keeping the previous keys"),
        }
        if let Ok(mut m) = self.keys_modified.write() {
            *m = Some(modified);
        }
    }

    /// Phases 1–5 of the core decision, then the origin request for a forward; with the
    /// decision's metric labels (a forward whose origin request cannot be built still counts as
    /// a forward decision: the origin failure has its own counter).
    pub async fn decide(&self, viewer: &ViewerRequest, now: SystemTime) -> (Verdict, DecisionOutcome) {
        let config = self.config();
        let decision = oncelink::decide(viewer, &self.policy, &config, self.ledger.as_ref(), now).await;
        let outcome = DecisionOutcome::of(&decision);
        let verdict = match decision {
            Decision::Forward(forward) => match self.origin_target(viewer, &forward, now).await {
                Ok(target) => Verdict::Forward(target),
                Err(why) => Verdict::OriginUnavailable(why),
            },
            Decision::Preview => Verdict::Preview,
            Decision::Deny(reason) => Verdict::Deny(reason),
        };
        (verdict, outcome)
    }

    /// Sealed: sign a fresh request for the object at the link's path (the token is already
    /// stripped by the decision). Presigned: the viewer's path and query go to the origin as they
    /// are, and the origin checks the signature.
    async fn origin_target(&self, viewer: &ViewerRequest, forward: &Forward, now: SystemTime) -> Result<OriginTarget, String> {
        let origin = &self.issuer.origin;
        match self.issuer.mode {
            LinkMode::Sealed => {
                let key = &forward.path;
                let creds = self.signing.credentials().await.map_err(|e| format!("{e:#}"))?;
                let signed =
                    sign_origin_request(origin, &creds, &viewer.method, key, &forward.querystring, now).map_err(|e| e.to_string())?;
                Ok(OriginTarget { url: signed.url, headers: signed.headers })
            }
            LinkMode::Presigned => {
                let base = origin.base_url();
                let mut url = format!("{base}{}", viewer.uri);
                if !forward.querystring.is_empty() {
                    url.push('?');
                    url.push_str(&forward.querystring);
                }
                Ok(OriginTarget { url, headers: Vec::new() })
            }
        }
    }

    /// The issue API (`path` relative to `/_oncelink`, e.g. `/links`); the caller has checked the
    /// bearer token.
    pub async fn api(&self, method: &str, path: &str, query: &str, origin: Option<&str>, body: &[u8], now: SystemTime) -> ApiResponse {
        let request = ApiRequest { method, path, query, origin, body };
        let config = self.config();
        let creds = if self.issuer.mode == LinkMode::Presigned && oncelink::issue::signs_link(&request) {
            match self.signing.credentials().await {
                Ok(c) => Some(c),
                Err(e) => return ApiResponse::error(&oncelink::issue::IssueError::unavailable(format!("{e:#}"))),
            }
        } else {
            None
        };
        let signer = Signer { credentials: creds.as_ref(), keys: config.keys.as_ref() };
        oncelink::issue::handle(&self.issuer, signer, Some(self.ledger.as_ref()), &request, now).await
    }

    /// Polls the key file every second.
    pub fn spawn_key_watcher(self: &Arc<Self>) {
        if !matches!(self.key_source, KeySource::File(_)) {
            return;
        }
        let edge = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                edge.reload_keys_if_changed();
            }
        });
    }
}

/// The issuer settings for this gateway: links point at `public_url`.
pub fn issuer_settings(
    origin: S3Origin,
    public_url: &str,
    mode: LinkMode,
    default_expires: Duration,
    max_expires: Duration,
) -> IssuerSettings {
    IssuerSettings {
        origin,
        cdn: public_url.to_owned(),
        default_expires,
        max_expires,
        key_prefix: String::new(),
        cors_origins: Vec::new(),
        mode,
    }
}
