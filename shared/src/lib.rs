//! # oncelink core
//!
//! One-time (or N-time) links to S3 objects, enforced at the edge. This crate is the whole
//! logic; the Lambda functions and the gateway are thin shells around the same two services:
//!
//! ```text
//!  viewer request ──► edge::EdgeService ──► decision (pure phases) ──► ledger port ──► Decided
//!  API request    ──► issue::IssueService ─► router ─► policy ─► mint (pure) / ledger ─► ApiResponse
//!                          ▲ ports: config::ConfigSource, ledger::Ledger, credentials::CredentialSource
//! ```
//!
//! ## Layout
//!
//! | module | one idea |
//! |---|---|
//! | [`link`] | the link model: method, mode, [`link::LinkId`], the key rule, policy limits, retention |
//! | [`decision`] | the edge's verdict as named phases (method → link → window → audience → confirm → ledger); pure but for the ledger call |
//! | [`edge`] | [`edge::EdgeService`]: configuration + decision + ledger for one request, measured and logged; the CloudFront event shell and the AWS wiring |
//! | [`issue`] | the issue API: settings, validation, minting, routing, [`issue::IssueService`] |
//! | [`ledger`] | the ledger port, the record rule, the in-memory and DynamoDB adapters |
//! | [`config`] | the configuration port, its per-process cache, the SSM adapter |
//! | [`credentials`] | the credentials port: fixed keys, or the AWS chain behind a cache |
//! | [`sealed`], [`presign`], [`sigv4`] | the two link encodings: our HMAC token; SigV4 presigning (our own query signer, the signing key cached) and origin-request signing |
//! | [`presigned`], [`query`], [`encoding`] | strict reading of presigned links: one reading of every byte, or a refusal |
//! | [`request`], [`cloudfront`], [`http_head`], [`head_scan`] | the viewer request, and its two sources: a CloudFront event, an HTTP head (and what its raw bytes said) |
//! | [`delivery`] | when a download is delivered: the bytes that complete it |
//! | [`events`] | `link.used`, `link.exhausted`, `link.revoked`, `link.refused`: derived from a ledger record's change |
//! | [`confirm`] | confirm links: the page, the click's answer, the proof a click earns (phase 4b decides) |
//! | [`content`] | what a stored object may do in a browser: the headers every object carries, attachments for active types |
//! | [`error`] | [`Refusal`] and the one error-body writer |
//! | [`metrics`], [`metrics_emf`], [`telemetry`] | one metric vocabulary; EMF lines; JSON logs |
//! | [`time`] | SigV4 and RFC 3339 time formats, clamped conversions |
//! | [`words`] | which of a list of words a header value contains, in one pass |
//!
//! ## Errors
//!
//! * **Refusals are values, not errors.** What the caller is told is an enum implementing
//!   [`Refusal`] — [`DenyReason`] at the edge, [`issue::IssueError`] in the API,
//!   [`http_head::HeadRefusal`] for an unreadable request head — with a status, a stable code and
//!   a sentence, written by one body writer: `{"error", "message", "first_used_at"?}`.
//! * **Dependencies fail closed.** A port that cannot answer ([`ledger::LedgerError`],
//!   [`config::ConfigError`], [`credentials::CredentialsError`]) becomes a 503 refusal, never a
//!   grant: no ledger answer, no download. The detail goes to the log, with the request's id, and
//!   never to the caller.
//! * **Nothing panics on input.** Parsers return errors; times read from outside are clamped
//!   ([`time::from_unix_secs`]); the fuzz targets hold every entry point to that.
//! * Library errors are `thiserror` enums; `anyhow` appears only in the binaries' `main`s.
//! * **Logs never carry a secret, a link, a token or a header value**: query strings are never
//!   logged, messages that quote input are clipped ([`error::clip`]).

pub mod cloudfront;
pub mod config;
pub mod confirm;
pub mod content;
pub mod credentials;
pub mod decision;
pub mod delivery;
pub mod edge;
pub mod encoding;
pub mod error;
pub mod events;
pub mod head_scan;
pub mod http_head;
pub mod issue;
pub mod ledger;
pub mod link;
pub mod metrics;
pub mod metrics_emf;
pub mod presign;
pub mod presigned;
pub mod query;
pub mod request;
pub mod sealed;
pub mod sigv4;
pub mod telemetry;
pub mod time;
pub mod words;

pub use decision::{Decision, DenyReason, EdgePolicy, Precheck, decide, precheck, settle};
pub use error::Refusal;
pub use request::ViewerRequest;
