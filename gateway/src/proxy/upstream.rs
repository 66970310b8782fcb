//! Phase 3, the upstream request: the origin is asked, with the upload streaming through as it
//! arrives, and has a bounded time to answer with a response head.

use std::time::Duration;

use http::request::Parts;
use http::{Method, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use oncelink::decision::Forward;

use super::Proxy;
use crate::app::RequestCtx;
use crate::body::Tracked;
use crate::origin::{Body, BoxError, OriginError, OriginRequest};

/// The origin's time to answer with a response head, unless configured otherwise.
pub const DEFAULT_ORIGIN_TIMEOUT: Duration = Duration::from_secs(60);

impl Proxy {
    /// Sends the admitted request to the origin; the upload streams through as it arrives.
    pub(super) async fn upstream_request(
        &self,
        parts: &Parts,
        body: Incoming,
        forward: &Forward,
        ctx: &mut RequestCtx,
    ) -> Result<Response<Body>, OriginError> {
        let body: Body = if parts.method == Method::PUT {
            Tracked::upload(body.map_err(|e| Box::new(e) as BoxError), self.metrics.clone()).boxed()
        } else {
            Empty::new().map_err(|never| match never {}).boxed()
        };
        let request = OriginRequest { parts, forward, body, request_id: &ctx.request_id };
        match tokio::time::timeout(self.origin_timeout, self.origin.send(request)).await {
            Ok(Ok(answer)) => {
                let status = answer.status().as_u16();
                ctx.upstream_status = Some(status);
                if status >= 500 || status == 403 {
                    tracing::warn!(status, request_id = %ctx.request_id, "the origin refused or failed a forwarded request");
                }
                Ok(answer)
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(OriginError::OriginTimeout),
        }
    }
}
