//! S3's error answers, as the file origin gives them: the status, and an XML error document
//! with S3's code, so that a viewer (and the proxy's settle phase) sees the same refusal from
//! the file origin as from S3.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::origin::Body;

/// One of S3's error codes, with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Error {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

pub const NO_SUCH_KEY: S3Error = S3Error { status: 404, code: "NoSuchKey", message: "The specified key does not exist." };
pub const NO_SUCH_BUCKET: S3Error = S3Error { status: 404, code: "NoSuchBucket", message: "The specified bucket does not exist." };
pub const INVALID_RANGE: S3Error = S3Error { status: 416, code: "InvalidRange", message: "The requested range is not satisfiable." };
pub const PRECONDITION_FAILED: S3Error =
    S3Error { status: 412, code: "PreconditionFailed", message: "At least one of the preconditions you specified did not hold." };
pub const MISSING_CONTENT_LENGTH: S3Error =
    S3Error { status: 411, code: "MissingContentLength", message: "You must provide the Content-Length HTTP header." };
pub const INCOMPLETE_BODY: S3Error = S3Error {
    status: 400,
    code: "IncompleteBody",
    message: "You did not provide the number of bytes specified by the Content-Length HTTP header.",
};
pub const BAD_DIGEST: S3Error =
    S3Error { status: 400, code: "BadDigest", message: "The Content-MD5 you specified did not match what we received." };
pub const INVALID_DIGEST: S3Error = S3Error { status: 400, code: "InvalidDigest", message: "The Content-MD5 you specified is not valid." };
pub const KEY_TOO_LONG: S3Error = S3Error { status: 400, code: "KeyTooLongError", message: "Your key is too long." };
pub const INVALID_ARGUMENT: S3Error = S3Error { status: 400, code: "InvalidArgument", message: "Invalid Argument." };
pub const NO_SUCH_VERSION: S3Error = S3Error { status: 404, code: "NoSuchVersion", message: "The specified version does not exist." };
pub const METHOD_NOT_ALLOWED: S3Error =
    S3Error { status: 405, code: "MethodNotAllowed", message: "The specified method is not allowed against this resource." };
/// What S3 answers a CORS preflight on a bucket without a CORS configuration.
pub const CORS_NOT_ENABLED: S3Error =
    S3Error { status: 403, code: "AccessForbidden", message: "CORSResponse: CORS is not enabled for this bucket." };
pub const INTERNAL_ERROR: S3Error =
    S3Error { status: 500, code: "InternalError", message: "We encountered an internal error. Please try again." };

impl S3Error {
    /// A refusal of a presigned request's signature (`sigv4`'s code for it, S3's wording).
    pub fn signature(status: u16, code: &'static str) -> Self {
        Self { status, code, message: "The request signature we calculated does not match the signature you provided, or it is not valid." }
    }

    /// The answer: the error document for GET and PUT, its headers alone for HEAD (as S3).
    pub fn response(self, head_only: bool) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let document = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code, self.message
        );
        let body = if head_only { Bytes::new() } else { Bytes::from(document) };
        let mut response = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        response
    }
}
