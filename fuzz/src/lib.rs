//! Harnesses shared by the fuzz targets (`fuzz_targets/`), the corpus replay test
//! (`tests/replay.rs`) and the seed generator (`examples/gen_seeds.rs`).
//!
//! Every harness takes raw bytes, must never panic on its own, and asserts invariants of the
//! core: a panic is a finding. Everything is deterministic (fixed clock, fixed keys, a fresh
//! in-memory ledger per input) so that a crash input replays the same way.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use aws_credential_types::Credentials;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oncelink::cloudfront::{self, Answer, MAX_GENERATED_RESPONSE_BYTES};
use oncelink::config::{ConfigCache, EdgeConfig, StaticConfig};
use oncelink::decision::{EdgePolicy, Precheck, precheck};
use oncelink::edge::EdgeService;
use oncelink::ledger::MemoryLedger;
use oncelink::link::LinkMethod;
use oncelink::link::LinkMode;
use oncelink::link::policy::{MAX_GRACE_SECONDS, MAX_USES};
use oncelink::presign::{PresignRequest, S3Origin, presign};
use oncelink::sealed::{self, Claims, KeySet};
use oncelink::{Refusal, ViewerRequest};
use serde_json::Value;

/// The fuzzers' clock: 2026-05-28T20:26:40Z. Seeds are issued at this instant, so they stay
/// valid forever (the harness never reads the real clock).
pub const NOW_SECS: u64 = 1_780_000_000;
/// The CDN host the seeds are issued for.
pub const HOST: &str = "d111111abcdef8.cloudfront.net";
/// The object key of the seeds, and its path.
pub const KEY: &str = "reports/2026/file-0001.pdf";
pub const PATH: &str = "/reports/2026/file-0001.pdf";
/// The sealed-mode key set of the edge under test: `k1` → 32 bytes of 7.
pub const KID: &str = "k1";
pub const SECRET: [u8; 32] = [7; 32];
/// Lifetime of the seed links.
pub const EXPIRES_IN: Duration = Duration::from_secs(900);

pub fn now() -> SystemTime {
    oncelink::time::from_unix_secs(NOW_SECS)
}

pub fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::from_secrets(KID, [(KID.to_owned(), SECRET.to_vec())]).expect("a valid key set"))
}

/// The two deployments every input runs against.
pub fn configs() -> [EdgeConfig; 2] {
    [EdgeConfig::presigned(), EdgeConfig::sealed(keys().clone())]
}

/// One current-thread runtime for the whole process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a tokio runtime"))
}

/// An edge service on `config` with its own, empty in-memory ledger (so inputs do not leak
/// ledger state into each other and every run is reproducible).
pub fn service(config: EdgeConfig) -> EdgeService<StaticConfig, Arc<MemoryLedger>> {
    EdgeService::new(EdgePolicy::default(), Arc::new(ConfigCache::new(StaticConfig(config), None)), Arc::new(MemoryLedger::new()))
}

// ---------------------------------------------------------------------------------------------
// Target 1: edge_event — raw bytes → JSON → EdgeService::handle_event, in both modes.
// ---------------------------------------------------------------------------------------------

pub fn edge_event(data: &[u8]) {
    let Ok(event) = serde_json::from_slice::<Value>(data) else { return };
    for config in configs() {
        let mode = config.mode;
        let service = service(config);
        let first = runtime().block_on(service.handle_event(event.clone(), now())).answer;
        check_answer(&event, mode, &first);
        // CloudFront may deliver the same viewer request twice (same requestId): the ledger
        // recognises the retry, so the answer must not change.
        let retry = runtime().block_on(service.handle_event(event.clone(), now())).answer;
        assert_eq!(first, retry, "a redelivered event (same requestId) got a different answer");
    }
}

/// What CloudFront is allowed to get back for `event`.
pub fn check_answer(event: &Value, mode: LinkMode, answer: &Answer) {
    let serialized = serde_json::to_vec(answer).expect("an answer always serializes");
    match answer {
        Answer::Respond(response) => {
            assert!(
                serialized.len() < MAX_GENERATED_RESPONSE_BYTES,
                "generated response of {} bytes (CloudFront's limit is {MAX_GENERATED_RESPONSE_BYTES})",
                serialized.len()
            );
            let no_store = response.headers.get("cache-control").is_some_and(|values| values.iter().any(|v| v.value == "no-store"));
            assert!(no_store, "generated response without cache-control: no-store: {response:?}");
            let status: u16 = response.status.parse().expect("status is a number in a string");
            assert!((200..600).contains(&status), "status {status}");
            let json = response.headers.get("content-type").is_some_and(|values| values.iter().any(|v| v.value == "application/json"));
            if json {
                serde_json::from_str::<Value>(&response.body).expect("a JSON denial body is JSON");
            }
        }
        Answer::Continue(request) => {
            let (_, original) = cloudfront::parse_event(event.clone()).expect("a forwarded event was a valid event");
            assert!(matches!(request.method.as_str(), "GET" | "PUT" | "HEAD" | "OPTIONS"), "forwarded method {:?}", request.method);
            // Only the query string and the link header may change on the way to the origin: the
            // validator names the link (a GET or PUT that spent a use) and drops the viewer's own.
            let link_header = oncelink::edge::cloudfront::LINK_HEADER;
            let mut headers = request.headers.clone();
            let named = headers.remove(link_header);
            let mut sent = original.headers.clone();
            sent.remove(link_header);
            assert_eq!((&request.method, &request.uri, &headers), (&original.method, &original.uri, &sent));
            match named {
                Some(values) => {
                    assert!(matches!(request.method.as_str(), "GET" | "PUT"), "{} named a link", request.method);
                    assert!(values.len() == 1 && oncelink::link::LinkId::parse(&values[0].value).is_some(), "{values:?}");
                }
                None => assert!(matches!(request.method.as_str(), "HEAD" | "OPTIONS"), "a forwarded {} without its link", request.method),
            }
            assert_eq!((&request.client_ip, &request.extra), (&original.client_ip, &original.extra));
            match mode {
                LinkMode::Presigned => assert_eq!(request.querystring, original.querystring, "presigned query changed"),
                LinkMode::Sealed => {
                    // The token is stripped: the origin sees nothing or only the download name.
                    assert_ne!(request.querystring, original.querystring, "sealed token reached the origin");
                    assert!(
                        request.querystring.is_empty() || request.querystring.starts_with("response-content-disposition="),
                        "sealed mode forwarded {:?}",
                        request.querystring
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Target 2: viewer_request — a structured request → decision::precheck, in both modes.
// ---------------------------------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone)]
pub enum MethodIn {
    Get,
    Put,
    Head,
    Options,
    Post,
    Delete,
    /// `get`: methods are case-sensitive.
    LowerGet,
    Other(String),
}

impl MethodIn {
    pub fn as_string(&self) -> String {
        match self {
            Self::Get => "GET".into(),
            Self::Put => "PUT".into(),
            Self::Head => "HEAD".into(),
            Self::Options => "OPTIONS".into(),
            Self::Post => "POST".into(),
            Self::Delete => "DELETE".into(),
            Self::LowerGet => "get".into(),
            Self::Other(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum UriIn {
    /// The seed links' path.
    Known,
    Other(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum HeaderNameIn {
    Host,
    UserAgent,
    Range,
    ContentType,
    Other(String),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum HeaderValueIn {
    Host,
    UpperHost,
    Curl,
    /// A link-preview crawler (never spends a use).
    Slackbot,
    FirstKilobyte,
    Pdf,
    Other(String),
}

impl HeaderValueIn {
    fn as_string(&self) -> String {
        match self {
            Self::Host => HOST.into(),
            Self::UpperHost => HOST.to_ascii_uppercase(),
            Self::Curl => "curl/8.5.0".into(),
            Self::Slackbot => "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)".into(),
            Self::FirstKilobyte => "bytes=0-1023".into(),
            Self::Pdf => "application/pdf".into(),
            Self::Other(s) => s.clone(),
        }
    }
}

/// An edit of a real presigned query, on its `&`-separated segments.
#[derive(Arbitrary, Debug, Clone)]
pub enum QueryEdit {
    None,
    Drop(u8),
    SetValue(u8, String),
    Append(String),
    Truncate(u16),
    SetByte(u16, u8),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum KidIn {
    Active,
    /// Well formed, but not in the edge's key set.
    Retired,
    Other(String),
}

/// A token for fuzzer-chosen claims, sealed with the edge's own key: this is how the fuzzer
/// gets past the MAC check to the code behind it.
#[derive(Arbitrary, Debug, Clone)]
pub struct SealedIn {
    pub kid: KidIn,
    pub put: bool,
    /// Expiry relative to the fuzzers' clock, over the whole range: the codec itself must refuse
    /// an absurd expiry (the first fuzzing run found one that overflowed time arithmetic).
    pub expires_in: i64,
    pub max_uses: u16,
    pub grace_seconds: u32,
    pub nonce: [u8; 16],
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// Bind to this host instead of the request's `Host`.
    pub other_host: Option<String>,
    /// Bind to this path instead of the request's URI.
    pub other_path: Option<String>,
    /// Overwrite one byte of the token.
    pub tamper: Option<(u16, u8)>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum LinkIn {
    Raw(String),
    /// A real presigned query for the seed key (GET, or PUT with `Content-Type: application/pdf`).
    Presigned {
        put: bool,
        edit: QueryEdit,
    },
    Sealed(Box<SealedIn>),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct ViewerInput {
    pub method: MethodIn,
    pub uri: UriIn,
    pub host: Option<HeaderValueIn>,
    pub link: LinkIn,
    pub headers: Vec<(HeaderNameIn, HeaderValueIn)>,
    pub client_ip: Option<String>,
    pub request_id: String,
}

/// Real presigned queries (without the leading `?`) for the seed key, issued at [`now`].
pub fn presigned_query(method: LinkMethod) -> &'static str {
    static QUERIES: OnceLock<[String; 2]> = OnceLock::new();
    let [get, put] = QUERIES.get_or_init(|| {
        let origin = S3Origin { bucket: "oncelink-fuzz".into(), region: "eu-west-1".into(), endpoint: None };
        let credentials = Credentials::new("AKIDEXAMPLE", "fuzz-secret", None, None, "fuzz");
        let policy = [("x-oncelink-uses", "2".to_owned()), ("x-oncelink-grace", "60".to_owned())];
        let query = |method, content_type| {
            let request = PresignRequest { method, key: KEY, expires_in: EXPIRES_IN, content_type, extra_query: &policy };
            let url = presign(&origin, &credentials, &request, now()).expect("presigning works offline");
            url.path_and_query.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default()
        };
        [query(LinkMethod::Get, None), query(LinkMethod::Put, Some("application/pdf"))]
    });
    match method {
        LinkMethod::Get => get,
        LinkMethod::Put => put,
    }
}

/// A sealed token, as the issuer would make it, for the seed path on [`HOST`].
pub fn issue_sealed_token(claims: &Claims) -> String {
    sealed::seal(claims, &SECRET, HOST, PATH).expect("valid claims")
}

fn edit_query(query: &str, edit: &QueryEdit) -> String {
    let mut segments: Vec<String> = query.split('&').map(str::to_owned).collect();
    let pick = |i: u8, n: usize| usize::from(i) % n.max(1);
    match edit {
        QueryEdit::None => {}
        QueryEdit::Drop(i) => {
            let i = pick(*i, segments.len());
            segments.remove(i);
        }
        QueryEdit::SetValue(i, value) => {
            let i = pick(*i, segments.len());
            let name = segments[i].split('=').next().unwrap_or("").to_owned();
            segments[i] = format!("{name}={value}");
        }
        QueryEdit::Append(raw) => segments.push(raw.clone()),
        QueryEdit::Truncate(n) => {
            let joined = segments.join("&");
            let mut at = usize::from(*n) % (joined.len() + 1);
            while !joined.is_char_boundary(at) {
                at -= 1;
            }
            return joined[..at].to_owned();
        }
        QueryEdit::SetByte(i, b) => {
            let mut bytes = segments.join("&").into_bytes();
            if !bytes.is_empty() {
                let i = usize::from(*i) % bytes.len();
                bytes[i] = *b;
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    segments.join("&")
}

fn seal_input(spec: &SealedIn, host: &str, path: &str) -> String {
    let kid = match &spec.kid {
        KidIn::Active => KID.to_owned(),
        KidIn::Retired => "k0".to_owned(),
        KidIn::Other(s) => s.clone(),
    };
    let claims = Claims {
        kid,
        method: if spec.put { LinkMethod::Put } else { LinkMethod::Get },
        expires_at: (NOW_SECS as i64).saturating_add(spec.expires_in).max(0) as u64,
        max_uses: spec.max_uses,
        grace_seconds: spec.grace_seconds,
        nonce: spec.nonce,
        filename: spec.filename.clone(),
        content_type: spec.content_type.clone(),
    };
    let host = spec.other_host.as_deref().unwrap_or(host);
    let path = spec.other_path.as_deref().unwrap_or(path);
    let mut token = match sealed::seal(&claims, &SECRET, host, path) {
        Ok(token) => token,
        // Claims the issuer refuses to seal: encode them anyway, with a zero MAC, so the
        // decoder's field checks see them.
        Err(_) => {
            let mut bytes = claims.encode_payload();
            bytes.extend_from_slice(&[0; sealed::MAC_LEN]);
            URL_SAFE_NO_PAD.encode(bytes)
        }
    };
    if let Some((i, b)) = spec.tamper
        && !token.is_empty()
    {
        let mut bytes = token.into_bytes();
        let i = usize::from(i) % bytes.len();
        bytes[i] = b;
        token = String::from_utf8_lossy(&bytes).into_owned();
    }
    token
}

impl ViewerInput {
    pub fn to_request(&self) -> ViewerRequest {
        let uri = match &self.uri {
            UriIn::Known => PATH.to_owned(),
            UriIn::Other(s) => s.clone(),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(host) = &self.host {
            headers.push(("host".into(), host.as_string()));
        }
        for (name, value) in &self.headers {
            let name = match name {
                HeaderNameIn::Host => "host".to_owned(),
                HeaderNameIn::UserAgent => "user-agent".to_owned(),
                HeaderNameIn::Range => "range".to_owned(),
                HeaderNameIn::ContentType => "content-type".to_owned(),
                HeaderNameIn::Other(s) => s.to_ascii_lowercase(),
            };
            headers.push((name, value.as_string()));
        }
        let querystring = match &self.link {
            LinkIn::Raw(s) => s.clone(),
            LinkIn::Presigned { put, edit } => edit_query(presigned_query(if *put { LinkMethod::Put } else { LinkMethod::Get }), edit),
            LinkIn::Sealed(spec) => {
                let host = headers.iter().find(|(n, _)| n == "host").map_or(HOST.to_owned(), |(_, v)| v.clone());
                seal_input(spec, &host, &uri)
            }
        };
        ViewerRequest {
            method: self.method.as_string(),
            uri,
            querystring,
            headers,
            client_ip: self.client_ip.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Decodes the structured input the way `fuzz_target!(|input: ViewerInput| ..)` would.
pub fn viewer_input(data: &[u8]) -> Option<ViewerInput> {
    ViewerInput::arbitrary_take_rest(Unstructured::new(data)).ok()
}

pub fn viewer_request(data: &[u8]) {
    let Some(input) = viewer_input(data) else { return };
    let request = input.to_request();
    let policy = EdgePolicy::default();
    for config in configs() {
        let outcome = precheck(&request, &policy, &config, now());
        check_precheck(&request, &outcome);
    }
}

/// What phases 1–4 may conclude for `request`.
pub fn check_precheck(request: &ViewerRequest, outcome: &Precheck) {
    let method = request.method.as_str();
    match outcome {
        Precheck::Claim(claim) => {
            assert!(matches!(method, "GET" | "PUT"), "a {method:?} request would spend a use");
            let use_claim = &claim.use_claim;
            assert!((1..=u32::from(MAX_USES)).contains(&use_claim.max_uses), "max_uses {}", use_claim.max_uses);
            assert_eq!(use_claim.at, now());
            assert!(use_claim.retain_until > now() + oncelink::link::RETENTION_MARGIN, "the record would outlive nothing");
            assert_eq!(use_claim.request_id, request.request_id);
            if let Some(grace) = claim.grace {
                assert!(request.header("range").is_some(), "grace without a Range request");
                assert_eq!(method, "GET", "a grace resume of an upload");
                assert!(grace > Duration::ZERO && grace.as_secs() <= u64::from(MAX_GRACE_SECONDS));
            }
            assert_eq!(use_claim.hold_until, None, "the default policy spends uses at once");
        }
        Precheck::Look(look) => {
            assert!(matches!(method, "HEAD" | "OPTIONS"), "a {method:?} request passed without a use");
            assert_eq!(look.use_claim.hold_until, None, "a look holds nothing");
        }
        Precheck::Preview(known) => {
            assert!(known.retain_until > now(), "a preview's trail would outlive nothing");
            assert_eq!(method, "GET", "only a download is ever a preview");
            assert!(request.header("user-agent").is_some(), "preview answer without a User-Agent");
        }
        Precheck::Refused(reason, _) => {
            assert!(matches!(method, "GET" | "PUT" | "HEAD" | "OPTIONS"), "a {method:?} request read as a link");
            serde_json::from_str::<Value>(&reason.body()).expect("a denial body is JSON");
        }
        Precheck::Deny(reason) => {
            if !matches!(method, "GET" | "PUT" | "HEAD" | "OPTIONS") {
                assert_eq!(reason, &oncelink::DenyReason::MethodNotAllowed);
            }
            let body = reason.body();
            assert!(body.len() < 4096, "a denial of {} bytes", body.len());
            serde_json::from_str::<Value>(&body).expect("a denial body is JSON");
        }
    }
}

/// A short name for an outcome (seed generation and reports).
pub fn outcome_class(outcome: &Precheck) -> String {
    match outcome {
        Precheck::Claim(c) => format!("claim{}", if c.grace.is_some() { "-grace" } else { "" }),
        Precheck::Look(_) => "look".into(),
        Precheck::Preview(_) => "preview".into(),
        Precheck::Deny(reason) | Precheck::Refused(reason, _) => format!("deny-{}", reason.code()),
    }
}

// ---------------------------------------------------------------------------------------------
// Target 3: sealed_token — any string → sealed::open and sealed::decode_unverified.
// ---------------------------------------------------------------------------------------------

pub fn sealed_token_str(token: &str) {
    let opened = sealed::open(token, keys(), HOST, PATH);
    // The host is compared case-insensitively (CloudFront passes the viewer's spelling).
    assert_eq!(opened, sealed::open(token, keys(), &HOST.to_ascii_uppercase(), PATH));
    match sealed::decode_unverified(token) {
        Ok((claims, mac)) => {
            // One encoding per token: decoding and re-encoding gives back the very same string.
            let mut bytes = claims.encode_payload();
            bytes.extend_from_slice(&mac);
            assert_eq!(URL_SAFE_NO_PAD.encode(&bytes), token, "a non-canonical token decoded");
            claims.validate().expect("decoded claims are valid");
            if let Ok(opened) = &opened {
                assert_eq!(opened, &claims);
                // A token that verifies is exactly what the issuer would have sealed.
                assert_eq!(issue_sealed_token(&claims), token);
            }
            // Sealing the same claims with our key always opens again, to the same claims.
            let ours = Claims { kid: KID.to_owned(), ..claims };
            let resealed = issue_sealed_token(&ours);
            assert_eq!(sealed::open(&resealed, keys(), HOST, PATH), Ok(ours.clone()));
            assert!(sealed::open(&resealed, keys(), HOST, "/another/path").is_err(), "a token opened on another path");
        }
        Err(error) => assert_eq!(opened, Err(error), "open and decode_unverified disagree"),
    }
}

pub fn sealed_token(data: &[u8]) {
    sealed_token_str(&String::from_utf8_lossy(data));
}

// ---------------------------------------------------------------------------------------------
// Target 4: gateway_head — raw HTTP/1.1 request head bytes → the gateway's head handling
// (`oncelink::http_head`) → the decision, in both modes.
// ---------------------------------------------------------------------------------------------

/// The upload cap the gateway head harness runs with.
pub const MAX_UPLOAD_BYTES: u64 = 1 << 20;

/// The head as hyper hands it to the gateway: parsed by `httparse` (hyper's HTTP/1 parser), then
/// method, target and headers turned into `http` types the way hyper does. A head hyper would
/// refuse with 400 before the gateway sees it is not an input to the gateway.
pub fn http_parts(data: &[u8]) -> Option<http::request::Parts> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(_) = parsed.parse(data).ok()? else { return None };
    let mut builder = http::Request::builder().method(http::Method::from_bytes(parsed.method?.as_bytes()).ok()?);
    builder = builder.uri(http::Uri::try_from(parsed.path?).ok()?);
    for header in parsed.headers.iter() {
        let name = http::HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        builder = builder.header(name, http::HeaderValue::from_bytes(header.value).ok()?);
    }
    Some(builder.body(()).ok()?.into_parts().0)
}

pub fn gateway_head(data: &[u8]) {
    // The connection's raw bytes through the head scanner, whole and in two slices: the same
    // facts either way, never more heads than blank lines.
    let (mut whole, mut split) = (Vec::new(), Vec::new());
    oncelink::head_scan::HeadScanner::default().feed(data, &mut whole);
    let mut scanner = oncelink::head_scan::HeadScanner::default();
    let cut = data.len() / 2;
    scanner.feed(&data[..cut], &mut split);
    scanner.feed(&data[cut..], &mut split);
    assert_eq!(whole, split, "the facts depend on how the bytes were read");
    assert!(whole.len() <= data.windows(4).filter(|w| *w == b"\r\n\r\n").count() + 1);
    let Some(parts) = http_parts(data) else { return };
    let raw = whole.first().map(|f| oncelink::http_head::RawHead { fragment: f.fragment, bytes: f.bytes }).unwrap_or_default();
    if let Err(refusal) = oncelink::http_head::check_head(&parts.uri, &parts.headers, raw, 64 * 1024) {
        assert!(matches!(refusal.status(), 400 | 431), "head refused with {}", refusal.status());
        return;
    }
    let client_ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    match oncelink::http_head::viewer_request(&parts, client_ip, "fuzz-request", MAX_UPLOAD_BYTES) {
        Err(refusal) => {
            assert!(matches!(refusal.status(), 400 | 411 | 413), "head refused with {}", refusal.status());
            let body: Value = serde_json::from_str(&refusal.body()).expect("a refusal body is JSON");
            assert_eq!(body["error"], refusal.code());
            assert!(refusal.body().len() < 1024, "refusal body of {} bytes", refusal.body().len());
        }
        Ok(viewer) => {
            // The decision sees the request exactly as it will be forwarded: nothing re-encoded.
            assert_eq!(viewer.method, parts.method.as_str());
            assert_eq!(viewer.uri, parts.uri.path());
            assert_eq!(viewer.querystring, parts.uri.query().unwrap_or(""));
            assert_eq!(viewer.headers.len(), parts.headers.len(), "a header was dropped or invented");
            if parts.method == http::Method::PUT {
                let lengths: Vec<_> = parts.headers.get_all(http::header::CONTENT_LENGTH).iter().collect();
                assert_eq!(lengths.len(), 1, "an upload without exactly one Content-Length reached the decision");
                let length: u64 = std::str::from_utf8(lengths[0].as_bytes()).expect("digits").parse().expect("a plain number");
                assert!(length <= MAX_UPLOAD_BYTES, "an upload over the cap reached the decision");
            }
            for config in configs() {
                let decision = runtime().block_on(service(config).decide(&viewer, now())).decision;
                match decision {
                    oncelink::Decision::Forward(_) => {
                        assert!(matches!(viewer.method.as_str(), "GET" | "PUT" | "HEAD" | "OPTIONS"), "forwarded {:?}", viewer.method)
                    }
                    oncelink::Decision::Preview => {
                        assert!(matches!(viewer.method.as_str(), "GET" | "PUT"), "a preview answer for {:?}", viewer.method)
                    }
                    oncelink::Decision::Deny(reason) => {
                        // The request's own faults (a body on a read: 400; a range: 416) or the
                        // link's (403, 405); never a 503: an in-memory ledger never fails.
                        assert!(matches!(reason.status(), 400 | 403 | 405 | 416), "a denial with {}", reason.status());
                        serde_json::from_str::<Value>(&reason.body()).expect("a denial body is JSON");
                    }
                }
            }
        }
    }
}
