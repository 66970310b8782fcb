//! The API's routes, read once from a request: every rule about which method and path mean what
//! lives in [`Route::read`], and everything else asks the [`Route`].
//!
//! ```text
//! OPTIONS <any>              → Preflight                   (CORS; no credentials needed)
//! POST    /links   {json}    → Issue, answered 201
//! GET     /links?key=…       → Issue, answered 200 (or 302 to the link with redirect=1)
//! GET     /links/{link_id}   → State
//! DELETE  /links/{link_id}   → Revoke
//! ```

use super::{ApiRequest, IssueError, LinkRequest, MAX_BODY_BYTES};
use crate::link::LinkId;

/// One API request, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Preflight,
    Issue { request: LinkRequest, answer: IssueAnswer },
    State(LinkId),
    Revoke(LinkId),
}

/// How an issued link is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueAnswer {
    /// `201` with the link's JSON (`POST`).
    Created,
    /// `200` with the link's JSON (`GET`).
    Json,
    /// `302 Location: <url>` (`GET …&redirect=1`).
    Redirect,
}

impl Route {
    pub fn read(request: &ApiRequest<'_>) -> Result<Self, IssueError> {
        if request.method == "OPTIONS" {
            return Ok(Self::Preflight);
        }
        if request.path == "/links" {
            return match request.method {
                "POST" => {
                    if request.body.len() > MAX_BODY_BYTES {
                        return Err(IssueError::BodyTooLarge);
                    }
                    let link = serde_json::from_slice(request.body).map_err(|e| IssueError::InvalidJson(e.to_string()))?;
                    Ok(Self::Issue { request: link, answer: IssueAnswer::Created })
                }
                "GET" => parse_query(request.query),
                _ => Err(IssueError::MethodNotAllowed),
            };
        }
        if let Some(raw) = request.path.strip_prefix("/links/") {
            let id = || LinkId::parse(raw).ok_or(IssueError::InvalidLinkId);
            return match request.method {
                "GET" => Ok(Self::State(id()?)),
                "DELETE" => Ok(Self::Revoke(id()?)),
                _ => Err(IssueError::MethodNotAllowed),
            };
        }
        Err(IssueError::NotFound)
    }
}

/// `GET /links` parameters: the [`LinkRequest`] fields, and `redirect`. Unknown or repeated
/// parameters are refused.
fn parse_query(raw: &str) -> Result<Route, IssueError> {
    let mut request = LinkRequest::default();
    let mut seen: Vec<String> = Vec::new();
    let mut answer = IssueAnswer::Json;
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        if seen.iter().any(|s| *s == name) {
            return Err(IssueError::InvalidQuery(format!("parameter {name} is repeated")));
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "key" => request.key = value.into_owned(),
            "method" => request.method = Some(value.into_owned()),
            "expires_in" => request.expires_in = Some(number(&value, IssueError::InvalidExpiresIn(None))?),
            "content_type" => request.content_type = Some(value.into_owned()),
            "mode" => request.mode = Some(value.into_owned()),
            "filename" => request.filename = Some(value.into_owned()),
            "tag" => request.tag = Some(value.into_owned()),
            "max_uses" => request.max_uses = Some(number(&value, IssueError::InvalidMaxUses)?),
            "grace_seconds" => request.grace_seconds = Some(number(&value, IssueError::InvalidGraceSeconds)?),
            "redirect" => {
                if matches!(value.as_ref(), "1" | "true") {
                    answer = IssueAnswer::Redirect;
                }
            }
            other => {
                return Err(IssueError::InvalidQuery(format!("unknown parameter {:?}", other.chars().take(32).collect::<String>())));
            }
        }
    }
    Ok(Route::Issue { request, answer })
}

fn number<T: std::str::FromStr>(value: &str, error: IssueError) -> Result<T, IssueError> {
    value.parse().map_err(|_| error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(method: &str, path: &str, query: &str, body: &[u8]) -> Result<Route, IssueError> {
        Route::read(&ApiRequest { method, path, query, body, ..ApiRequest::default() })
    }

    #[test]
    fn every_route_and_its_refusals() {
        let id = LinkId::for_nonce(b"n");
        assert_eq!(read("OPTIONS", "/anything", "", b""), Ok(Route::Preflight));
        assert!(matches!(read("POST", "/links", "", br#"{"key":"a"}"#), Ok(Route::Issue { answer: IssueAnswer::Created, .. })));
        assert!(matches!(read("GET", "/links", "key=a&redirect=1", b""), Ok(Route::Issue { answer: IssueAnswer::Redirect, .. })));
        assert_eq!(read("GET", &format!("/links/{id}"), "", b""), Ok(Route::State(id.clone())));
        assert_eq!(read("DELETE", &format!("/links/{id}"), "", b""), Ok(Route::Revoke(id)));
        assert_eq!(read("DELETE", "/links/short", "", b""), Err(IssueError::InvalidLinkId));
        assert_eq!(read("PUT", "/links", "", b""), Err(IssueError::MethodNotAllowed));
        assert_eq!(read("GET", "/other", "", b""), Err(IssueError::NotFound));
        assert_eq!(read("POST", "/links", "", &vec![b' '; MAX_BODY_BYTES + 1]), Err(IssueError::BodyTooLarge));
        assert!(matches!(read("POST", "/links", "", b"{"), Err(IssueError::InvalidJson(_))));
        assert!(matches!(read("GET", "/links", "key=a&key=b", b""), Err(IssueError::InvalidQuery(_))));
        assert!(matches!(read("GET", "/links", "key=a&acl=1", b""), Err(IssueError::InvalidQuery(_))));
        assert_eq!(read("GET", "/links", "key=a&max_uses=x", b""), Err(IssueError::InvalidMaxUses));
    }
}
