//! The origin port's contract: one suite, run against every adapter in both link modes.
//!
//! | adapter | behind it |
//! |---|---|
//! | `FileOrigin` | a temporary objects directory |
//! | `S3HttpOrigin` | s3s-fs on loopback, which verifies every SigV4 signature (headers in sealed mode, the presigned query in presigned mode) |
//!
//! Each case asks the origin what the proxy asks it after a granted decision — the request head,
//! what the decision forwards, the body — and checks the answer a viewer would get: GET (and its
//! bytes, to the last one of a multi-chunk object), Range (206, 416 past the end), HEAD, PUT with
//! its metadata and ETag, a missing key, the link's `response-*` overrides, a bad `Content-MD5`,
//! and — presigned — a signature that is not ours.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use oncelink::credentials::FixedCredentials;
use oncelink::decision::Forward;
use oncelink::encoding::{encode_key, encode_query};
use oncelink::link::{LinkMethod, LinkMode};
use oncelink::presign::{PresignRequest, S3Origin, presign};
use oncelink_gateway::origin::files::{FileOrigin, PresignedCheck};
use oncelink_gateway::origin::s3::S3HttpOrigin;
use oncelink_gateway::origin::{Body, Origin, OriginRequest, http_client};
use sha2::{Digest, Sha256};

const BUCKET: &str = "contract";
const REGION: &str = "eu-west-1";
const ACCESS_KEY: &str = "AKIDCONTRACT";
const SECRET_KEY: &str = "contract-secret-key";

/// One adapter under test, with how to reach it as the proxy would.
struct Subject {
    origin: Arc<dyn Origin>,
    mode: LinkMode,
    /// Where presigned links point (presigned mode).
    signed_for: S3Origin,
    _dir: tempfile::TempDir,
}

/// An answer as the viewer would get it.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `<Code>` of an S3 error document.
    fn code(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map(|(code, _)| code.to_owned()).unwrap_or_default()
    }
}

fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "contract")
}

impl Subject {
    /// Asks the origin for `method` on `key` with `headers`, the link's `overrides` and `body`.
    async fn ask(&self, method: Method, key: &str, headers: &[(&str, &str)], overrides: &[(&str, String)], body: &[u8]) -> Answer {
        let (path_and_query, forward) = match self.mode {
            LinkMode::Sealed => {
                let query: Vec<String> = overrides.iter().map(|(n, v)| format!("{}={}", encode_query(n), encode_query(v))).collect();
                let query = query.join("&");
                let uri = if query.is_empty() { format!("/{}", encode_key(key)) } else { format!("/{}?{query}", encode_key(key)) };
                (uri, Forward { path: key.to_owned(), querystring: query })
            }
            LinkMode::Presigned => {
                let content_type = headers.iter().find(|(n, _)| *n == "content-type").map(|(_, v)| *v);
                let link_method = if method == Method::PUT { LinkMethod::Put } else { LinkMethod::Get };
                let request = PresignRequest {
                    method: link_method,
                    key,
                    expires_in: Duration::from_secs(600),
                    content_type: content_type.filter(|_| method == Method::PUT),
                    extra_query: overrides,
                };
                let signed = presign(&self.signed_for, &credentials(), &request, SystemTime::now()).unwrap();
                let query = signed.path_and_query.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
                (signed.path_and_query, Forward { path: format!("{BUCKET}/{key}"), querystring: query })
            }
        };
        self.send(method, &path_and_query, forward, headers, body).await
    }

    async fn send(&self, method: Method, path_and_query: &str, forward: Forward, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut builder = http::Request::builder().method(method).uri(path_and_query);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (parts, ()): (Parts, ()) = builder.body(()).unwrap().into_parts();
        let body: Body = Full::new(Bytes::copy_from_slice(body)).map_err(|never| match never {}).boxed();
        let answer = self.origin.send(OriginRequest { parts: &parts, forward: &forward, body, request_id: "contract" }).await.unwrap();
        let (head, body) = answer.into_parts();
        Answer { status: head.status.as_u16(), headers: head.headers, body: body.collect().await.unwrap().to_bytes() }
    }

    async fn put(&self, key: &str, content: &[u8], headers: &[(&str, &str)]) -> Answer {
        let length = content.len().to_string();
        let mut all = vec![("content-length", length.as_str())];
        all.extend_from_slice(headers);
        self.ask(Method::PUT, key, &all, &[], content).await
    }

    async fn get(&self, key: &str, headers: &[(&str, &str)]) -> Answer {
        self.ask(Method::GET, key, headers, &[], b"").await
    }
}

/// The file origin on a temporary objects directory.
async fn files(mode: LinkMode) -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let signed_for = S3Origin { bucket: BUCKET.into(), region: REGION.into(), endpoint: Some("http://files.contract.test:8080".into()) };
    let check = (mode == LinkMode::Presigned).then(|| PresignedCheck {
        host: "files.contract.test:8080".into(),
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
        region: REGION.into(),
    });
    let origin = FileOrigin::open(&dir.path().join("objects"), BUCKET, check).unwrap();
    Subject { origin: Arc::new(origin), mode, signed_for, _dir: dir }
}

/// The S3-over-HTTP adapter in front of s3s-fs on loopback.
async fn s3_http(mode: LinkMode) -> Subject {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
    let fs = s3s_fs::FileSystem::new(dir.path()).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
            });
        }
    });
    let origin = S3Origin { bucket: BUCKET.into(), region: REGION.into(), endpoint: Some(endpoint) };
    let adapter = S3HttpOrigin {
        client: http_client().unwrap(),
        origin: origin.clone(),
        mode,
        credentials: Arc::new(FixedCredentials(credentials())),
    };
    Subject { origin: Arc::new(adapter), mode, signed_for: origin, _dir: dir }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// --- the cases ------------------------------------------------------------------------------

/// PUT stores the bytes and the upload's headers; GET gives both back, with the PUT's ETag.
async fn put_then_get_with_metadata(s: Subject) {
    let put = s
        .put(
            "dir/report one.pdf",
            b"%PDF-1.7 twelve",
            &[("content-type", "application/pdf"), ("content-disposition", "inline; filename=\"r.pdf\"")],
        )
        .await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let etag = put.header("etag").expect("a PUT answers with the ETag").to_owned();
    assert_eq!(etag, format!("\"{}\"", hex::encode(md5_of(b"%PDF-1.7 twelve"))), "the ETag is the body's MD5, as S3's");
    let got = s.get("dir/report one.pdf", &[]).await;
    assert_eq!((got.status, &got.body[..]), (200, &b"%PDF-1.7 twelve"[..]));
    assert_eq!(got.header("content-type"), Some("application/pdf"));
    assert_eq!(got.header("content-disposition"), Some("inline; filename=\"r.pdf\""));
    assert_eq!(got.header("content-length"), Some("15"));
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    assert!(got.header("last-modified").is_some_and(|d| httpdate::parse_http_date(d).is_ok()));
}

fn md5_of(bytes: &[u8]) -> Vec<u8> {
    use md5::Digest as _;
    md5::Md5::digest(bytes).to_vec()
}

/// Ranges: one slice (206 with its Content-Range), the tail, and past the end (416).
async fn ranges(s: Subject) {
    let content: Vec<u8> = (0..100u8).collect();
    assert_eq!(s.put("r.bin", &content, &[]).await.status, 200);
    let part = s.get("r.bin", &[("range", "bytes=10-19")]).await;
    assert_eq!((part.status, &part.body[..]), (206, &content[10..20]));
    assert_eq!(part.header("content-range"), Some("bytes 10-19/100"));
    assert_eq!(part.header("content-length"), Some("10"));
    let tail = s.get("r.bin", &[("range", "bytes=-5")]).await;
    assert_eq!((tail.status, &tail.body[..]), (206, &content[95..]));
    let open = s.get("r.bin", &[("range", "bytes=98-")]).await;
    assert_eq!((open.status, &open.body[..]), (206, &content[98..]));
    let past = s.get("r.bin", &[("range", "bytes=100-")]).await;
    assert_eq!((past.status, past.code().as_str()), (416, "InvalidRange"));
}

/// HEAD: the object's headers, no bytes. (A presigned link is signed for GET: S3 refuses it
/// for HEAD, and so does the file origin.)
async fn head(s: Subject) {
    assert_eq!(s.put("h.txt", b"head me", &[("content-type", "text/plain")]).await.status, 200);
    let head = s.ask(Method::HEAD, "h.txt", &[], &[], b"").await;
    if s.mode == LinkMode::Presigned {
        assert_eq!((head.status, head.body.len()), (403, 0), "a GET signature does not sign a HEAD");
        return;
    }
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("7"));
    assert_eq!(head.header("content-type"), Some("text/plain"));
    assert!(head.body.is_empty());
}

/// A key that names nothing: 404 NoSuchKey, for GET and HEAD.
async fn missing_key(s: Subject) {
    let got = s.get("nothing/here.txt", &[]).await;
    assert_eq!((got.status, got.code().as_str()), (404, "NoSuchKey"));
    let head = s.ask(Method::HEAD, "nothing/here.txt", &[], &[], b"").await.status;
    assert_eq!(head, if s.mode == LinkMode::Sealed { 404 } else { 403 });
}

/// An object over several read chunks arrives whole, to the last byte.
async fn large_object_streams_whole(s: Subject) {
    let content: Vec<u8> = (0..(3 * 1024 * 1024 + 17)).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    assert_eq!(s.put("big/blob.bin", &content, &[]).await.status, 200);
    let got = s.get("big/blob.bin", &[]).await;
    assert_eq!(got.status, 200);
    assert_eq!((got.body.len(), sha256(&got.body)), (content.len(), sha256(&content)));
}

/// The link's `response-*` parameters set the answer's headers (a named download).
async fn response_overrides(s: Subject) {
    assert_eq!(s.put("o.csv", b"a,b", &[("content-type", "text/csv")]).await.status, 200);
    let overrides = [("response-content-disposition", "attachment; filename=\"numbers.csv\"".to_owned())];
    let got = s.ask(Method::GET, "o.csv", &[], &overrides, b"").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-disposition"), Some("attachment; filename=\"numbers.csv\""));
}

/// An upload whose Content-MD5 is not its body's: 400 BadDigest.
async fn bad_digest(s: Subject) {
    let wrong = base64_md5(b"something else");
    let put = s.put("d.txt", b"the body", &[("content-md5", wrong.as_str())]).await;
    assert_eq!((put.status, put.code().as_str()), (400, "BadDigest"));
    let right = base64_md5(b"the body");
    assert_eq!(s.put("d.txt", b"the body", &[("content-md5", right.as_str())]).await.status, 200);
}

fn base64_md5(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(md5_of(bytes))
}

/// Presigned mode: a signature that is not ours is S3's 403, and nothing is served.
async fn foreign_signature(s: Subject) {
    if s.mode != LinkMode::Presigned {
        return;
    }
    assert_eq!(s.put("sig.txt", b"signed", &[]).await.status, 200);
    let request = PresignRequest {
        method: LinkMethod::Get,
        key: "sig.txt",
        expires_in: Duration::from_secs(600),
        content_type: None,
        extra_query: &[],
    };
    let other = Credentials::new(ACCESS_KEY, "not-the-secret", None, None, "other");
    let signed = presign(&s.signed_for, &other, &request, SystemTime::now()).unwrap();
    let query = signed.path_and_query.split_once('?').unwrap().1.to_owned();
    let forward = Forward { path: format!("{BUCKET}/sig.txt"), querystring: query };
    let got = s.send(Method::GET, &signed.path_and_query, forward, &[], b"").await;
    assert_eq!((got.status, got.code().as_str()), (403, "SignatureDoesNotMatch"));
}

/// One module per adapter and mode, one test per case.
macro_rules! origin_contract {
    ($module:ident, $make:ident, $mode:ident) => {
        origin_contract!(@cases $module, $make, $mode;
            put_then_get_with_metadata, ranges, head, missing_key, large_object_streams_whole,
            response_overrides, bad_digest, foreign_signature);
    };
    (@cases $module:ident, $make:ident, $mode:ident; $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::$case(crate::$make(crate::LinkMode::$mode).await).await;
                }
            )*
        }
    };
}

origin_contract!(file_origin_sealed, files, Sealed);
origin_contract!(file_origin_presigned, files, Presigned);
origin_contract!(s3_http_origin_sealed, s3_http, Sealed);
origin_contract!(s3_http_origin_presigned, s3_http, Presigned);

// --- what only the file origin promises (s3s-fs differs; S3 agrees) --------------------------

mod file_origin_only {
    use super::*;

    fn objects(s: &Subject) -> std::path::PathBuf {
        s._dir.path().join("objects")
    }

    /// A refused upload (bad digest, a body shorter than its Content-Length) keeps the old object
    /// and leaves no temporary file behind. (s3s-fs replaces the object before it checks.)
    #[tokio::test]
    async fn a_refused_upload_changes_nothing() {
        let s = files(LinkMode::Sealed).await;
        assert_eq!(s.put("keep.txt", b"original", &[]).await.status, 200);
        let wrong = base64_md5(b"x");
        assert_eq!(s.put("keep.txt", b"replacement", &[("content-md5", wrong.as_str())]).await.code(), "BadDigest");
        let short = s.ask(Method::PUT, "keep.txt", &[("content-length", "100")], &[], b"only ten b").await;
        assert_eq!((short.status, short.code().as_str()), (400, "IncompleteBody"));
        let missing_length = s.ask(Method::PUT, "keep.txt", &[], &[], b"x").await;
        assert_eq!((missing_length.status, missing_length.code().as_str()), (411, "MissingContentLength"));
        assert_eq!(&s.get("keep.txt", &[]).await.body[..], b"original");
        let leftovers: Vec<_> = std::fs::read_dir(objects(&s))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".oncelink-upload-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// Preconditions, as S3 evaluates them: 304 for a cached copy, 412 for a changed one.
    #[tokio::test]
    async fn conditional_requests() {
        let s = files(LinkMode::Sealed).await;
        let etag = s.put("c.txt", b"cached", &[]).await.header("etag").unwrap().to_owned();
        let not_modified = s.get("c.txt", &[("if-none-match", etag.as_str())]).await;
        assert_eq!((not_modified.status, not_modified.body.len()), (304, 0));
        assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
        let failed = s.get("c.txt", &[("if-match", "\"something-else\"")]).await;
        assert_eq!((failed.status, failed.code().as_str()), (412, "PreconditionFailed"));
        assert_eq!(s.get("c.txt", &[("if-match", etag.as_str())]).await.status, 200);
        let last_modified = s.get("c.txt", &[]).await.header("last-modified").unwrap().to_owned();
        assert_eq!(s.get("c.txt", &[("if-modified-since", last_modified.as_str())]).await.status, 304);
        // If-Range with another ETag: the whole object instead of the range.
        let whole = s.get("c.txt", &[("range", "bytes=0-1"), ("if-range", "\"stale\"")]).await;
        assert_eq!((whole.status, &whole.body[..]), (200, &b"cached"[..]));
        let part = s.get("c.txt", &[("range", "bytes=0-1"), ("if-range", etag.as_str())]).await;
        assert_eq!((part.status, &part.body[..]), (206, &b"ca"[..]));
    }

    /// Files an operator drops in are served as they are; a file replaced by hand loses the
    /// metadata of the upload it replaced.
    #[tokio::test]
    async fn files_dropped_in_by_hand() {
        let s = files(LinkMode::Sealed).await;
        std::fs::create_dir_all(objects(&s).join(BUCKET).join("by/hand")).unwrap();
        std::fs::write(objects(&s).join(BUCKET).join("by/hand/notes.txt"), b"dropped in").unwrap();
        let got = s.get("by/hand/notes.txt", &[]).await;
        assert_eq!((got.status, &got.body[..]), (200, &b"dropped in"[..]));
        assert_eq!(got.header("content-type"), None, "no type is guessed");
        assert!(got.header("etag").is_some_and(|e| e.starts_with('"') && e.ends_with('"')));

        assert_eq!(s.put("typed.html", b"<p>upload</p>", &[("content-type", "text/html")]).await.status, 200);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(objects(&s).join(BUCKET).join("typed.html"), b"replaced by hand").unwrap();
        let got = s.get("typed.html", &[]).await;
        assert_eq!(&got.body[..], b"replaced by hand");
        assert_eq!(got.header("content-type"), None, "the old upload's type no longer applies");
    }

    /// A key cannot be an object and a prefix at once on a file system: 409, nothing changed.
    /// Keys that break the key rule never reach the file system.
    #[tokio::test]
    async fn keys_that_cannot_be_files() {
        let s = files(LinkMode::Sealed).await;
        assert_eq!(s.put("a", b"file", &[]).await.status, 200);
        let conflict = s.put("a/b", b"under a file", &[]).await;
        assert_eq!((conflict.status, conflict.code().as_str()), (409, "KeyConflict"));
        assert_eq!(&s.get("a", &[]).await.body[..], b"file");
        for bad in ["../escape", "a/../../b", "/absolute", "a//b"] {
            let forward = Forward { path: bad.to_owned(), querystring: String::new() };
            let got = s.send(Method::GET, "/x", forward, &[], b"").await;
            assert_eq!((got.status, got.code().as_str()), (400, "InvalidArgument"), "{bad}");
        }
    }

    /// Temporary files of uploads cut off by a crash are removed when the origin opens.
    #[tokio::test]
    async fn leftovers_of_a_crash_are_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("objects");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(".oncelink-upload-0123.part"), b"half").unwrap();
        std::fs::write(root.join(".tmp.7.internal.part"), b"s3s-fs half").unwrap();
        std::fs::write(root.join("keep-me"), b"not ours").unwrap();
        FileOrigin::open(&root, BUCKET, None).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, [BUCKET, "keep-me"]);
    }
}
