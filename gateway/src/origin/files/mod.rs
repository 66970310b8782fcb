//! The file origin: the data dir's `objects/<bucket>/<key>` served and written directly.
//!
//! This is the origin of `oncelink serve` on its defaults. No S3 server, no loopback hop, no
//! thread hand-off for a small object: a GET opens the file, `fstat`s it, reads its sidecar
//! and the bytes of an object up to 64 KiB on the request's own thread (a few system calls
//! served from the page cache — the data dir is meant to be a local disk), and a larger body
//! streams from the file, read ahead on the blocking pool ([`body`]); a PUT streams into a
//! temporary file and is renamed into place once synced ([`write`]). Answers are S3's — status, headers
//! and error documents — so that the proxy, and the origin contract suite, cannot tell it from
//! S3.
//!
//! In sealed mode the decision has checked the link and the request is the gateway's own. In
//! presigned mode there is no S3 to check the signature, so this origin checks it, as S3 would,
//! with the embedded credentials ([`oncelink::sigv4::verify_query`]).
//!
//! Keys follow the core's key rule (checked again here: no empty, `.` or `..` segments, no
//! leading `/`), so a key can only name a file under `objects/<bucket>/`.

mod body;
mod meta;
mod read;
mod s3_error;
mod write;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use http::{HeaderName, Method, Response, header};
use oncelink::query::Query;
use oncelink::sigv4::{self, Presented, Verifier};

use super::{Body, Origin, OriginError, OriginRequest};
use read::Asked;
use s3_error::S3Error;

pub use read::SMALL;

/// How presigned links are checked when this origin serves them.
#[derive(Debug, Clone)]
pub struct PresignedCheck {
    /// The host the links are signed for (the gateway's public URL's authority).
    pub host: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

pub struct FileOrigin {
    root: PathBuf,
    bucket: String,
    presigned: Option<PresignedCheck>,
}

/// `response-*` query parameters and the header each sets on the answer (as S3).
const OVERRIDES: [(&str, HeaderName); 6] = [
    ("response-content-type", header::CONTENT_TYPE),
    ("response-content-disposition", header::CONTENT_DISPOSITION),
    ("response-content-encoding", header::CONTENT_ENCODING),
    ("response-content-language", header::CONTENT_LANGUAGE),
    ("response-cache-control", header::CACHE_CONTROL),
    ("response-expires", header::EXPIRES),
];

impl FileOrigin {
    /// Serves `root/<bucket>/…` (both created if missing); removes what interrupted uploads
    /// left behind. `presigned`: check presigned links' signatures (presigned mode).
    pub fn open(root: &Path, bucket: &str, presigned: Option<PresignedCheck>) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join(bucket))?;
        let removed = write::remove_leftovers(root)?;
        if removed > 0 {
            tracing::info!(removed, "removed temporary files of interrupted uploads");
        }
        Ok(Self { root: root.to_owned(), bucket: bucket.to_owned(), presigned })
    }

    /// The object key a request names, or why it names none.
    fn key<'f>(&self, request: &OriginRequest<'f>) -> Result<&'f str, S3Error> {
        let path = request.forward.path.as_str();
        let key = match &self.presigned {
            None => path,
            // Presigned links name the bucket first (path style).
            Some(_) => path.strip_prefix(self.bucket.as_str()).and_then(|rest| rest.strip_prefix('/')).ok_or(s3_error::NO_SUCH_BUCKET)?,
        };
        oncelink::link::key::check(key).map_err(|_| s3_error::INVALID_ARGUMENT)?;
        Ok(key)
    }

    /// Presigned mode: the signature must be one we made, for this very request.
    fn check_signature(&self, request: &OriginRequest<'_>) -> Result<(), S3Error> {
        let Some(check) = &self.presigned else { return Ok(()) };
        let refused = |e: sigv4::SignatureError| {
            let (status, code) = e.s3_code();
            S3Error::signature(status, code)
        };
        let query = Query::parse(&request.forward.querystring).map_err(|e| refused(sigv4::SignatureError::Malformed(e.to_string())))?;
        let headers: Vec<(&str, &str)> =
            request.parts.headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))).collect();
        let presented = Presented {
            method: request.parts.method.as_str(),
            host: &check.host,
            path: request.parts.uri.path(),
            query: &query,
            headers: &headers,
        };
        let verifier = Verifier { access_key: &check.access_key, secret_key: &check.secret_key, region: &check.region };
        sigv4::verify_query(&presented, &verifier, SystemTime::now()).map_err(refused)
    }

    /// The link's `response-*` overrides; a version other than the only one there is: none.
    fn overrides(querystring: &str) -> Result<Vec<(HeaderName, String)>, S3Error> {
        let query = Query::parse(querystring).map_err(|_| s3_error::INVALID_ARGUMENT)?;
        if query.get("versionId").is_some_and(|v| v != "null") {
            return Err(s3_error::NO_SUCH_VERSION);
        }
        Ok(OVERRIDES.iter().filter_map(|(param, name)| Some((name.clone(), query.get(param)?.to_owned()))).collect())
    }

    async fn read(&self, key: &str, request: &OriginRequest<'_>) -> Result<Response<Body>, S3Error> {
        let head_only = request.parts.method == Method::HEAD;
        let overrides = Self::overrides(&request.forward.querystring)?;
        let object = self.root.join(&self.bucket).join(key);
        let sidecar = meta::sidecar_path(&self.root, &self.bucket, key);
        // On this thread: a hand-off to the blocking pool would cost more than these calls.
        match read::look_up(&object, &sidecar, !head_only) {
            Ok(Some(found)) => Ok(read::answer(found, &Asked { head_only, headers: &request.parts.headers, overrides: &overrides })),
            Ok(None) => Ok(read::missing(head_only)),
            Err(error) => {
                tracing::error!(%error, request_id = request.request_id, "an object could not be read");
                Err(s3_error::INTERNAL_ERROR)
            }
        }
    }
}

#[async_trait]
impl Origin for FileOrigin {
    async fn send(&self, request: OriginRequest<'_>) -> Result<Response<Body>, OriginError> {
        let head_only = request.parts.method == Method::HEAD;
        let answer = async move {
            self.check_signature(&request)?;
            let key = self.key(&request)?;
            match request.parts.method {
                Method::GET | Method::HEAD => self.read(key, &request).await,
                Method::PUT => {
                    let target = write::Target {
                        root: &self.root,
                        object: self.root.join(&self.bucket).join(key),
                        sidecar: meta::sidecar_path(&self.root, &self.bucket, key),
                    };
                    Ok(write::store(target, &request.parts.headers, request.body, request.request_id).await)
                }
                Method::OPTIONS => Err(s3_error::CORS_NOT_ENABLED),
                _ => Err(s3_error::METHOD_NOT_ALLOWED),
            }
        };
        Ok(answer.await.unwrap_or_else(|refused: S3Error| refused.response(head_only)))
    }

    fn describe(&self) -> String {
        format!("files in {}", self.root.display())
    }
}
