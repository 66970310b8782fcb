//! The CLI's side of the gateway's HTTP API (`oncelink issue|status|revoke|put`, `oncelink demo`).
//!
//! A link id given on the command line goes into the URL path percent-encoded ([`segment`]), so a
//! mistyped one (a whole link pasted, say) reaches the API as one path segment and is answered
//! `400 invalid_link_id` rather than asking some other route.

use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use oncelink::issue::IssuedLink;

use crate::origin::{Body, BoxError, HttpClient, http_client};

pub struct Api {
    base: String,
    token: String,
    client: HttpClient,
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The `message` of a JSON error body, or the body itself.
fn explain(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| Some(format!("{} ({})", v.get("message")?.as_str()?, v.get("error")?.as_str()?)))
        .unwrap_or_else(|| text.chars().take(200).collect());
    format!("{} {}", status.as_u16(), message)
}

/// `text` as one URL path segment: everything but the base64url alphabet percent-encoded (dots
/// too, so that `..` is no dot segment). A link id is left as it is.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

impl Api {
    pub fn new(base: &str, token: String) -> anyhow::Result<Self> {
        Ok(Self { base: base.trim_end_matches('/').to_owned(), token, client: http_client()? })
    }

    async fn send(&self, request: Request<Body>) -> anyhow::Result<(StatusCode, Bytes)> {
        let uri = request.uri().clone();
        let response =
            self.client.request(request).await.map_err(|e| {
                anyhow::anyhow!("cannot reach the gateway at {}: {e} (is `oncelink serve` running? see --gateway)", self.base)
            })?;
        let status = response.status();
        let body = response.into_body().collect().await.with_context(|| format!("reading the answer from {uri}"))?.to_bytes();
        Ok((status, body))
    }

    /// `POST /_oncelink/links`.
    pub async fn issue(&self, request: &serde_json::Value) -> anyhow::Result<IssuedLink> {
        let req = Request::post(format!("{}/_oncelink/links", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(request.to_string())).map_err(|never| match never {}).boxed())?;
        let (status, body) = self.send(req).await?;
        if status != StatusCode::CREATED {
            bail!("the gateway refused to issue the link: {}", explain(status, &body));
        }
        serde_json::from_slice(&body).context("the gateway's answer is not a link")
    }

    /// `GET /_oncelink/links/{id}`: the link's state and trail, the API's JSON as sent.
    pub async fn state(&self, link_id: &str) -> anyhow::Result<String> {
        let req = Request::get(format!("{}/_oncelink/links/{}", self.base, segment(link_id)))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(empty())?;
        let (status, body) = self.send(req).await?;
        if status != StatusCode::OK {
            bail!("the gateway refused to show {link_id}: {}", explain(status, &body));
        }
        String::from_utf8(body.to_vec()).context("the gateway's answer is not text")
    }

    /// `DELETE /_oncelink/links/{id}`.
    pub async fn revoke(&self, link_id: &str) -> anyhow::Result<()> {
        let req = Request::delete(format!("{}/_oncelink/links/{}", self.base, segment(link_id)))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .body(empty())?;
        let (status, body) = self.send(req).await?;
        if status != StatusCode::OK {
            bail!("the gateway refused to revoke {link_id}: {}", explain(status, &body));
        }
        Ok(())
    }

    /// Streams `file` through a PUT link.
    pub async fn upload(&self, url: &str, file: &Path) -> anyhow::Result<u64> {
        let f = tokio::fs::File::open(file).await.with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().await?.len();
        let stream = tokio_util::io::ReaderStream::with_capacity(f, 64 * 1024).map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError);
        let req = Request::builder()
            .method(Method::PUT)
            .uri(url)
            .header(header::CONTENT_LENGTH, len)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(BodyExt::boxed(StreamBody::new(stream)))?;
        let (status, body) = self.send(req).await?;
        if !status.is_success() {
            bail!("the upload failed: {}", explain(status, &body));
        }
        Ok(len)
    }

    /// A plain request (the demo's downloads).
    pub async fn fetch(&self, method: Method, url: &str, body: Bytes) -> anyhow::Result<(StatusCode, Bytes)> {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Full::new(body).map_err(|never| match never {}).boxed())?;
        self.send(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn a_link_id_is_one_path_segment_whatever_was_typed() {
        assert_eq!(segment("UFNYw2EK0dKCXjBWUsMn4w"), "UFNYw2EK0dKCXjBWUsMn4w");
        assert_eq!(segment("a_b-c"), "a_b-c");
        assert_eq!(segment("http://h/k?AQ=="), "http%3A%2F%2Fh%2Fk%3FAQ%3D%3D");
        assert_eq!(segment("../x y"), "%2E%2E%2Fx%20y");
    }
}
