//! The CLI's side of the gateway's HTTP API (`oncelink issue|revoke|put`, `oncelink demo`).

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

    /// `DELETE /_oncelink/links/{id}`.
    pub async fn revoke(&self, link_id: &str) -> anyhow::Result<()> {
        let req = Request::delete(format!("{}/_oncelink/links/{link_id}", self.base))
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
