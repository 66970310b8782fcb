//! The viewer request as the edge sees it, independent of who delivered it
//! (a CloudFront event, or the self-hosted gateway's HTTP server).

/// One request from a viewer, still encoded exactly as it arrived.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerRequest {
    /// HTTP method as sent (compared case-sensitively: `get` is not `GET`).
    pub method: String,
    /// The path, percent-encoded as received, starting with `/`.
    pub uri: String,
    /// The query string without the leading `?`, percent-encoded as received.
    pub querystring: String,
    /// Header names in lower case, values as received; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// The viewer's IP address, when known.
    pub client_ip: Option<String>,
    /// Unique per viewer request (CloudFront's `requestId`); a retried ledger write with the same
    /// id is recognised as the same request.
    pub request_id: String,
}

impl ViewerRequest {
    /// The first value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl ViewerRequest {
    /// The request a viewer makes when it opens `url` (`scheme://host[:port]/path?query`) with
    /// `method`: path and query exactly as in the URL, `Host` from its authority. For tools,
    /// benchmarks and tests that start from an issued link.
    pub fn from_url(method: &str, url: &str, request_id: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (host, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (uri, querystring) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Self {
            method: method.to_owned(),
            uri: if uri.is_empty() { "/".to_owned() } else { uri.to_owned() },
            querystring: querystring.to_owned(),
            headers: vec![("host".to_owned(), host.to_owned())],
            client_ip: None,
            request_id: request_id.to_owned(),
        }
    }

    /// The same request with one more header (name in lower case).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}
