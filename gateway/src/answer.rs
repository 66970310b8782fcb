//! Building responses. Every generated JSON answer is a core refusal written by the core's one
//! body writer, or the core's [`ApiResponse`] turned into HTTP by the core; this module only puts
//! them into the gateway's body type.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use oncelink::Refusal;
use oncelink::confirm::Generated;
use oncelink::issue::ApiResponse;

use crate::origin::Body;

/// A complete (not streamed) response, never cached.
pub fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A refusal's JSON answer under its status.
pub fn refusal(refusal: &dyn Refusal) -> Response<Body> {
    full(StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "application/json", refusal.body())
}

/// A response the core generated (the confirm page, a click's answer), header for header.
pub fn generated(generated: &Generated) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(generated.body.clone())).map_err(|never| match never {}).boxed());
    *response.status_mut() = StatusCode::from_u16(generated.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &generated.headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// The issue API's answer, as the core makes it HTTP.
pub fn api(answer: ApiResponse) -> Response<Body> {
    answer.into_http().map(|body| Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed())
}

/// `302 Location: <location>`.
pub fn redirect(location: &'static str) -> Response<Body> {
    let mut response = full(StatusCode::FOUND, "text/plain", "");
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_static(location));
    response
}
