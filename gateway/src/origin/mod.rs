//! The origin port: where a granted request's object is read or written.
//!
//! The proxy asks an [`Origin`] one question per admitted request — this method, this object,
//! these viewer headers (and for PUT, this body) — and gets an HTTP answer back whose status
//! settles the use. Two adapters answer it:
//!
//! | adapter | used by | how |
//! |---|---|---|
//! | [`files::FileOrigin`] | `oncelink serve` on its defaults | reads and writes the data dir's `objects/` directly: one open + stat per request on the blocking pool, the body streamed from the file |
//! | [`s3::S3HttpOrigin`] | `--origin-endpoint URL` / `aws` | real S3 requests over HTTP(S), signed with SigV4 headers (sealed) or the viewer's presigned query passed on |
//!
//! Both give the same answers to the same requests (`gateway/tests/origin_contract.rs` runs one
//! suite against each): GET (200, 206 for a Range, 416 past the end), HEAD, PUT with its
//! metadata, `404 NoSuchKey`, and S3's error documents for refusals. The proxy bounds the wait
//! for any origin's answer; an adapter's own failure is an [`OriginError`].

pub mod files;
pub mod s3;

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use bytes::Bytes;
use http::Response;
use http::request::Parts;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oncelink::Refusal;
use oncelink::decision::Forward;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// One admitted request, as the origin is asked it.
pub struct OriginRequest<'a> {
    /// The viewer's request head (method, path as sent, headers). Each adapter passes on only
    /// what it knows to be safe.
    pub parts: &'a Parts,
    /// What the decision forwards: the object key (sealed) or the decoded path (presigned), and
    /// the query the origin gets.
    pub forward: &'a Forward,
    /// The upload (PUT) or an empty body.
    pub body: Body,
    /// For the logs.
    pub request_id: &'a str,
}

/// An object store behind the gateway.
#[async_trait]
pub trait Origin: Send + Sync {
    /// Answers one request. `Ok` is any HTTP answer (a refusal too: its status gives the use
    /// back); `Err` means there is no answer at all.
    async fn send(&self, request: OriginRequest<'_>) -> Result<Response<Body>, OriginError>;

    /// What the start-up line says this origin is (no secrets).
    fn describe(&self) -> String;
}

/// What went wrong between an admitted request and the origin's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    #[error("the origin request could not be signed")]
    SigningFailed,
    #[error("the origin could not be reached")]
    OriginUnavailable,
    #[error("the origin did not answer in time")]
    OriginTimeout,
}

impl OriginError {
    /// The access line's `failure` label (finer than the code the viewer gets).
    pub fn label(self) -> &'static str {
        match self {
            Self::SigningFailed => "origin_signing_failed",
            Self::OriginUnavailable => "origin_unavailable",
            Self::OriginTimeout => "origin_timeout",
        }
    }
}

impl Refusal for OriginError {
    fn status(&self) -> u16 {
        match self {
            Self::OriginTimeout => 504,
            _ => 502,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::OriginTimeout => "origin_timeout",
            // The viewer need not know which side of the signing failed.
            Self::SigningFailed | Self::OriginUnavailable => "origin_unavailable",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::SigningFailed => Self::OriginUnavailable.to_string(),
            other => other.to_string(),
        }
    }
}

/// A client for the origin (http and https) that streams bodies both ways.
pub fn http_client() -> anyhow::Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .context("no TLS root certificates")?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https))
}
