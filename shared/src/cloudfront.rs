//! CloudFront viewer-request events and answers (the Lambda@Edge contract).
//!
//! `aws_lambda_events` has no CloudFront types, so these are small serde structs. Fields we do
//! not read are kept (`extra`) so that a request we let through goes back to CloudFront intact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::DenyReason;
use crate::ViewerRequest;
use crate::confirm::Generated;
use crate::error::{Refusal, status_text};

#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub cf: Cf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cf {
    pub config: Config,
    pub request: Request,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub distribution_domain_name: String,
    #[serde(default)]
    pub distribution_id: String,
    #[serde(default)]
    pub event_type: String,
    pub request_id: String,
}

/// One header value; `key` keeps the viewer's casing and may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// Header map: lower-case name → values.
pub type Headers = BTreeMap<String, Vec<HeaderValue>>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub client_ip: String,
    #[serde(default)]
    pub headers: Headers,
    pub method: String,
    #[serde(default)]
    pub querystring: String,
    pub uri: String,
    /// Everything else CloudFront sent (`origin`, `body`, …), returned untouched.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A generated response: CloudFront answers the viewer without going to the origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// A string, per the contract.
    pub status: String,
    pub status_description: String,
    pub headers: Headers,
    pub body: String,
    pub body_encoding: String,
}

/// What the function returns: the request (continue) or a response (stop here).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Continue(Request),
    Respond(Response),
}

/// Largest generated response (headers + body) CloudFront accepts from a viewer-request function.
pub const MAX_GENERATED_RESPONSE_BYTES: usize = 40 * 1024;

/// Reads the single record of a viewer-request event. Anything else is an error, not a panic.
pub fn parse_event(event: Value) -> Result<(Config, Request), String> {
    let event: Event = serde_json::from_value(event).map_err(|e| format!("not a CloudFront event: {e}"))?;
    let mut records = event.records.into_iter();
    match (records.next(), records.next()) {
        (Some(record), None) => Ok((record.cf.config, record.cf.request)),
        _ => Err("a viewer-request event has exactly one record".into()),
    }
}

impl Request {
    /// The protocol-neutral view the decision works on.
    pub fn to_viewer_request(&self, request_id: &str) -> ViewerRequest {
        let headers = self
            .headers
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| (name.to_ascii_lowercase(), v.value.clone())))
            .collect();
        ViewerRequest {
            method: self.method.clone(),
            uri: self.uri.clone(),
            querystring: self.querystring.clone(),
            headers,
            client_ip: (!self.client_ip.is_empty()).then(|| self.client_ip.clone()),
            request_id: request_id.to_owned(),
        }
    }
}

fn header(name: &str, key: &str, value: &str) -> (String, Vec<HeaderValue>) {
    (name.to_owned(), vec![HeaderValue { key: Some(key.to_owned()), value: value.to_owned() }])
}

/// The generated response for a denial: JSON body, never cached.
pub fn deny_response(reason: &DenyReason) -> Response {
    let status = reason.status();
    let headers =
        Headers::from([header("content-type", "Content-Type", "application/json"), header("cache-control", "Cache-Control", "no-store")]);
    Response {
        status: status.to_string(),
        status_description: status_text(status).to_owned(),
        headers,
        body: reason.body(),
        body_encoding: "text".into(),
    }
}

/// A response the core generated (the confirm page, a click's answer), header for header.
pub fn generated_response(generated: &Generated) -> Response {
    let mut headers = Headers::new();
    for (key, value) in &generated.headers {
        headers.entry(key.to_ascii_lowercase()).or_default().push(HeaderValue { key: Some((*key).to_owned()), value: value.clone() });
    }
    Response {
        status: generated.status.to_string(),
        status_description: status_text(generated.status).to_owned(),
        headers,
        body: generated.body.clone(),
        body_encoding: "text".into(),
    }
}

impl Request {
    /// Removes the confirm proof from the `Cookie` headers (the origin has no business with it);
    /// a header left empty goes.
    pub fn strip_confirm_proofs(&mut self) {
        let Some(values) = self.headers.get_mut("cookie") else { return };
        values.retain_mut(|v| match crate::confirm::without_proofs(&v.value) {
            Some(kept) => {
                v.value = kept;
                true
            }
            None => false,
        });
        if values.is_empty() {
            self.headers.remove("cookie");
        }
    }
}

/// The answer for link-preview bots and mail scanners: 200, no content, not cached, not indexed.
pub fn preview_response() -> Response {
    Response {
        status: "200".into(),
        status_description: "OK".into(),
        headers: Headers::from([
            header("cache-control", "Cache-Control", "no-store"),
            header("x-robots-tag", "X-Robots-Tag", "noindex"),
            header("content-type", "Content-Type", "text/plain"),
        ]),
        body: String::new(),
        body_encoding: "text".into(),
    }
}
