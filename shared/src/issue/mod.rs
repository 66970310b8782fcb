//! The link-issuing API, protocol-neutral: the `issue-url` Lambda and the gateway both adapt
//! HTTP to [`IssueService::handle`] and back, so the contract below exists once.
//!
//! ```text
//! POST /links   {"key": "...", "method"?: "GET"|"PUT", "expires_in"?: secs, "content_type"?: "...",
//!                "mode"?: "sealed"|"presigned", "max_uses"?: n, "grace_seconds"?: s, "filename"?: "..."}
//!               → 201 {"url", "method", "key", "expires_at", "link_id", "mode", "max_uses", "grace_seconds"}
//! GET  /links?key=...&method=...&expires_in=...[&max_uses=..][&grace_seconds=..][&filename=..][&redirect=1]
//!               → 200 (same JSON) or 302 Location: <url>  (Cache-Control: no-store, never 301)
//! DELETE /links/{link_id} → 200 {"link_id", "revoked": true}
//! GET  /links/{link_id} → 200 {"link_id", "uses", "first_used_at", "revoked"}
//! OPTIONS *     → 204 CORS preflight
//! errors        → 4xx/5xx {"error": code, "message": text}
//! ```
//!
//! One idea per module:
//!
//! | module | what |
//! |---|---|
//! | [`settings`] | [`IssuerSettings`]: origin, CDN, limits, mode (from the environment in the Lambda) |
//! | [`policy`] | [`LinkRequest`] and its validation against the link model |
//! | [`mint`] | signing a validated request: [`issue`], pure |
//! | [`router`] | [`Route`]: what a method and path mean, read once |
//! | [`links`] | link state and revocation, on the ledger |
//! | [`service`] | [`IssueService`]: routes a request, pulls from the ports only what its route needs |
//! | [`response`] | [`ApiRequest`], [`ApiResponse`] and its one conversion to HTTP, CORS |
//! | [`error`] | [`IssueError`] |

pub mod error;
pub mod links;
pub mod mint;
pub mod policy;
pub mod response;
pub mod router;
pub mod service;
pub mod settings;

pub use error::IssueError;
pub use mint::{IssuedLink, Signer, issue};
pub use policy::{LinkRequest, Policy, validate, validate_key};
pub use response::{ApiRequest, ApiResponse};
pub use router::Route;
pub use service::IssueService;
pub use settings::{IssuerSettings, SettingsError};

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
