//! The edge decision, as named phases of one pure function.
//!
//! ```text
//!  viewer request ─► 1 method ─► 2 link ─────────► 3 window ─► 4 audience ─► 4b confirm ──► 5 ledger ─► forward / deny
//!                    policy      sealed: MAC, kid   expiry      preview bots   page / click   one atomic
//!                                presigned: shape   (+ skew)    (no content)   / proof        write
//! ```
//!
//! Phases 1–4b are [`precheck`]: pure, no I/O, cheap. They run before anything is spent, so an
//! expired, tampered, malformed or ambiguous request (a Range with two readings, a GET with a
//! body) can never burn a link. Phase 5 ([`spend`]) is the ledger, reached through the
//! [`crate::ledger::Ledger`] port: a resume inside the window, else a claim (held while the
//! origin is asked, in the gateway); HEAD and OPTIONS only read. Its answer becomes the final
//! [`Decision`] in [`settle`], pure again, with a [`spend::Ticket`] for what to confirm or give
//! back once the origin answered.
//!
//! Each link mode has its reader ([`presigned`], [`sealed`]) that turns the request into a
//! [`Link`]; [`range`] reads `Range` strictly; [`audience`] knows who is asking (preview bots,
//! people's desktop clients, prefetches, the client fingerprint); [`confirm`] keeps a confirm
//! link's uses for a person's click (the page, the click, the proof; see [`crate::confirm`]);
//! [`deny`] is why a request is refused.

pub mod audience;
mod confirm;
pub mod deny;
mod presigned;
pub mod range;
mod sealed;
pub mod spend;

use std::time::{Duration, SystemTime};

pub use audience::fingerprint;
pub use deny::DenyReason;
pub use spend::{Admitted, Ticket, TicketKind, admit, decide, delivers_content, look, settle, trail_outcome};

use crate::ViewerRequest;
use crate::config::EdgeConfig;
pub use crate::confirm::ConfirmStep;
use crate::encoding::decode_key;
use crate::ledger::{ClientHint, LedgerKey, UseClaim};
use crate::link::{self, LinkId, LinkMethod, LinkMode};

/// Knobs of the decision that do not come from the deployment's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    /// How far the edge's clock may lag the issuer's: a presigned link dated up to this far in
    /// the future is accepted.
    pub clock_skew: Duration,
    /// How long after its first use the link's first client may *recover* a download that did
    /// not complete (cut off, or its fate unknown after a crash) once every use is spent: a GET,
    /// with or without `Range`, one at a time, counted as a resume. Only where the edge knows
    /// when a download completed (the gateway: 10 minutes by default; a completed download
    /// closes it); zero on CloudFront, where only a link's own grace window allows resumes.
    pub resume_window: Duration,
    /// Most resumes one link grants, counted atomically in the ledger.
    pub max_resumes: u32,
    /// `Some(lease)`: a use is held while the origin is asked and confirmed only when it answers
    /// with content; a hold nobody resolves lapses after the lease (the gateway). `None`: a use
    /// is spent when admitted (CloudFront, whose origin-response trigger gives it back).
    pub hold_lease: Option<Duration>,
    /// Viewers reach the edge over https (CloudFront: always; the gateway: when its public URL
    /// is https). A confirm click must then come from `https://<host>`, and its proof cookie is
    /// `Secure`.
    pub viewer_https: bool,
}

/// Resumes a link allows unless a deployment says otherwise.
pub const DEFAULT_MAX_RESUMES: u32 = 10;

impl Default for EdgePolicy {
    fn default() -> Self {
        Self {
            clock_skew: Duration::from_secs(60),
            resume_window: Duration::ZERO,
            max_resumes: DEFAULT_MAX_RESUMES,
            hold_lease: None,
            viewer_https: true,
        }
    }
}

/// What to send to the origin when a request goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The request path, decoded (in sealed mode: the object key).
    pub path: String,
    /// The query string for the origin: unchanged in presigned mode; in sealed mode only the
    /// parameters the token covers (the token itself is stripped).
    pub querystring: String,
}

/// A request that passed phases 1–4 and needs the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub use_claim: UseClaim,
    pub forward: Forward,
    pub link_id: LinkId,
    /// The link's grace window, for a `Range` GET (and a HEAD or OPTIONS look) of a link that
    /// has one: the first client's ranges inside it spend no use, any number at once.
    pub grace: Option<Duration>,
    /// The policy's recovery window, for a GET (and a look) when it is not zero: the first
    /// client may recover a download that did not complete, one request at a time.
    pub recovery: Option<Duration>,
}

/// A link that was read and verified (phase 2): its refusals belong in its trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownLink {
    pub key: LedgerKey,
    /// How long the link's record is kept ([`link::retain_until`] of its expiry).
    pub retain_until: SystemTime,
}

/// What phases 1–4 conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Refuse now, naming no link (the request could not be read as one); the ledger is not
    /// touched.
    Deny(DenyReason),
    /// Refuse now a request on a link that was read (wrong method, expired, a prefetch): nothing
    /// is spent; the refusal is kept in the link's trail.
    Refused(DenyReason, KnownLink),
    /// A link-preview bot or mail scanner: answer with no content, spend nothing (kept in the
    /// link's trail).
    Preview(KnownLink),
    /// A confirm link without a person's click yet: the page, or the click's answer; nothing
    /// spent, nothing written.
    Confirm(ConfirmStep),
    /// HEAD, or OPTIONS (a CORS preflight): never spends, but reads the ledger and is answered
    /// as its GET would be.
    Look(Claim),
    /// GET or PUT: forward only if the ledger grants a use (or a resume).
    Claim(Claim),
}

/// The final answer for a viewer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request continue to the origin.
    Forward(Forward),
    /// An empty, non-consuming answer (for preview bots).
    Preview,
    /// The confirm page, or the answer to its click (non-consuming; [`crate::confirm::answer`]).
    Confirm(ConfirmStep),
    /// Answer with an error; the origin never sees the request.
    Deny(DenyReason),
}

/// Everything a link says about itself once read and verified (phase 2's result).
struct Link {
    id: LinkId,
    method: LinkMethod,
    expires_at: SystemTime,
    max_uses: u32,
    grace: Duration,
    /// Sealed links only: a use needs a person's click on the confirm page first.
    confirm: bool,
    /// The download name (shown on the confirm page).
    filename: Option<String>,
    forward: Forward,
}

/// Phases 1–4b: method policy, link, validity window, audience, confirm.
pub fn precheck(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Precheck {
    match precheck_inner(request, policy, config, now) {
        Ok(p) => p,
        Err(reason) => Precheck::Deny(reason),
    }
}

fn precheck_inner(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Result<Precheck, DenyReason> {
    // Phase 1: method policy. Only GET (download) and PUT (upload) spend a use; only a PUT has a
    // body; a Range has one reading or none.
    // A POST is a click on a confirm page (phase 4b), which only sealed links can ask for; it
    // never carries more than a small form body, which never reaches the origin.
    let consumes = match request.method.as_str() {
        "GET" | "PUT" => true,
        "HEAD" | "OPTIONS" => false,
        "POST" if config.mode == LinkMode::Sealed => false,
        _ => return Err(DenyReason::MethodNotAllowed),
    };
    if request.method == "POST" {
        if !confirm::small_body(request) {
            return Err(DenyReason::BodyNotAllowed);
        }
    } else if request.method != "PUT" && has_body(request) {
        return Err(DenyReason::BodyNotAllowed);
    }
    let range =
        range::read(request.headers.iter().filter(|(n, _)| n == "range").map(|(_, v)| v.as_str())).map_err(DenyReason::InvalidRange)?;

    // Phase 2: the link. The path and every parameter must have exactly one reading.
    let path = check_path(&request.uri)?;
    let link = match config.mode {
        LinkMode::Presigned => presigned::read(request, policy, now, path)?,
        LinkMode::Sealed => sealed::read(request, config, path)?,
    };
    // OPTIONS is a CORS preflight: any link method. Otherwise the method must be the link's
    // (HEAD is a GET without the body); a POST is only a confirm link's click.
    if request.method == "POST" && !link.confirm {
        return Err(DenyReason::MethodNotAllowed);
    }
    let known = KnownLink { key: LedgerKey::for_link(&link.id), retain_until: link::retain_until(link.expires_at) };
    let method_ok = matches!(
        (request.method.as_str(), link.method),
        ("OPTIONS", _) | ("GET" | "HEAD" | "POST", LinkMethod::Get) | ("PUT", LinkMethod::Put)
    );
    if !method_ok {
        return Ok(Precheck::Refused(DenyReason::WrongMethod, known));
    }

    // Phase 3: validity window.
    if now >= link.expires_at {
        return Ok(Precheck::Refused(DenyReason::Expired, known));
    }

    // Phase 4: audience. Speculation and bots that unfurl links must not spend them; an
    // upload is always a person's.
    if consumes && audience::is_prefetch(request) {
        return Ok(Precheck::Refused(DenyReason::Prefetch, known));
    }
    if request.method == "GET" && audience::is_preview_agent(request, &config.preview_agents) {
        return Ok(Precheck::Preview(known));
    }

    // Phase 4b: confirm. A confirm link's use waits for a person's click on its page.
    if link.confirm
        && let Some(step) = confirm::step(request, policy, config, &link, now)?
    {
        return Ok(Precheck::Confirm(step));
    }
    let reads = request.method != "PUT";
    let grace = (reads && !link.grace.is_zero() && (range.is_some() || !consumes)).then_some(link.grace);
    let recovery = (reads && !policy.resume_window.is_zero()).then_some(policy.resume_window);
    let claim = Claim {
        use_claim: UseClaim {
            key: known.key,
            request_id: request.request_id.clone(),
            at: now,
            retain_until: known.retain_until,
            max_uses: link.max_uses,
            fingerprint: Some(fingerprint(request)),
            hold_until: policy.hold_lease.filter(|_| consumes).map(|lease| now + lease),
            client: ClientHint::of(request),
        },
        forward: link.forward,
        link_id: link.id,
        grace,
        recovery,
    };
    Ok(if consumes { Precheck::Claim(claim) } else { Precheck::Look(claim) })
}

/// Does the request announce a body (a `Content-Length` other than 0, or any `Transfer-Encoding`)?
fn has_body(request: &ViewerRequest) -> bool {
    request.headers.iter().any(|(name, value)| match name.as_str() {
        "content-length" => value.trim() != "0",
        "transfer-encoding" => true,
        _ => false,
    })
}

/// The path must be `/` + a canonically encoded object key that follows the key rule
/// ([`link::key`]): exactly what the issuer signs, nothing a CDN or origin could read differently.
/// Returns the key, decoded.
fn check_path(uri: &str) -> Result<String, DenyReason> {
    let bad = |why: &str| DenyReason::BadPath(why.to_owned());
    let encoded = uri.strip_prefix('/').ok_or_else(|| bad("the path does not start with '/'"))?;
    if encoded.is_empty() {
        return Err(bad("no object key in the path"));
    }
    let key = decode_key(encoded).map_err(|e| bad(&format!("path: {e}")))?;
    link::key::check(&key).map_err(|e| bad(&e.to_string()))?;
    Ok(key)
}
