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
