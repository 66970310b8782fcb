//! PUT into a file, as S3 takes it: the whole body or nothing, durable before the answer.
//!
//! The body streams into a temporary file in `objects/` (the same file system as its final
//! place), its MD5 computed on the way (the ETag, and the check of a `Content-MD5`). Only a body
//! of exactly `Content-Length` bytes is kept: it is synced, its sidecar written, and it is
//! renamed into place and its directory synced — then, and only then, the answer is 200 and the
//! link's use is confirmed. Anything short of that removes the temporary file and answers with
//! S3's error, and the use is given back.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use super::meta::{self, Meta};
use super::s3_error::{self, S3Error};
use crate::origin::Body;

/// Temporary files of uploads (and sidecars) in progress; left-overs are removed at start.
pub const TEMP_PREFIX: &str = ".oncelink-upload-";
const TEMP_SUFFIX: &str = ".part";
const WRITE_BUFFER: usize = 1024 * 1024;

/// Where one upload goes.
pub struct Target<'a> {
    pub root: &'a Path,
    pub object: PathBuf,
    pub sidecar: PathBuf,
}

/// Stores one PUT; answers as S3 does.
pub async fn store(target: Target<'_>, headers: &HeaderMap, body: Body, request_id: &str) -> Response<Body> {
    match store_inner(target, headers, body).await {
        Ok(etag) => {
            let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed());
            if let Ok(value) = HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            *response.status_mut() = StatusCode::OK;
            response
        }
        Err(Refused::S3(error)) => error.response(false),
        Err(Refused::Io(error)) => {
            tracing::error!(%error, request_id, "an upload could not be stored");
            s3_error::INTERNAL_ERROR.response(false)
        }
    }
}

enum Refused {
    S3(S3Error),
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// The object's parent is a file, or its path a directory: a key cannot be both here.
const KEY_CONFLICT: S3Error =
    S3Error { status: 409, code: "KeyConflict", message: "A key cannot name both an object and a prefix of other objects here." };

async fn store_inner(target: Target<'_>, headers: &HeaderMap, mut body: Body) -> Result<String, Refused> {
    let text = |name: &header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let expected: u64 = text(&header::CONTENT_LENGTH)
        .ok_or(Refused::S3(s3_error::MISSING_CONTENT_LENGTH))?
        .parse()
        .map_err(|_| Refused::S3(s3_error::MISSING_CONTENT_LENGTH))?;
    let wanted_md5 = match headers.get("content-md5") {
        None => None,
        Some(raw) => {
            let digest = raw.to_str().ok().and_then(|v| STANDARD.decode(v).ok()).filter(|d| d.len() == 16);
            Some(digest.ok_or(Refused::S3(s3_error::INVALID_DIGEST))?)
        }
    };

    let temp = Temp::new(target.root)?;
    let file = tokio::fs::OpenOptions::new().write(true).create_new(true).open(&temp.path).await?;
    let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut md5 = Md5::new();
    let mut received = 0u64;
    while let Some(frame) = body.frame().await {
        // The viewer went away or sent something broken: nothing of it is kept.
        let frame = frame.map_err(|_| Refused::S3(s3_error::INCOMPLETE_BODY))?;
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > expected {
                return Err(Refused::S3(s3_error::INCOMPLETE_BODY));
            }
            md5.update(&data);
            writer.write_all(&data).await?;
        }
    }
    if received != expected {
        return Err(Refused::S3(s3_error::INCOMPLETE_BODY));
    }
    let digest = md5.finalize();
    if wanted_md5.is_some_and(|wanted| wanted.as_slice() != digest.as_slice()) {
        return Err(Refused::S3(s3_error::BAD_DIGEST));
    }
    writer.flush().await?;
    let file = writer.into_inner();
    file.sync_all().await?;
    let stat = file.metadata().await?;
    drop(file);

    let etag = format!("\"{}\"", hex::encode(digest));
    let header_text = |name: header::HeaderName| text(&name).map(str::to_owned);
    let meta = Meta {
        content_type: header_text(header::CONTENT_TYPE),
        content_encoding: header_text(header::CONTENT_ENCODING),
        content_disposition: header_text(header::CONTENT_DISPOSITION),
        content_language: header_text(header::CONTENT_LANGUAGE),
        cache_control: header_text(header::CACHE_CONTROL),
        expires: header_text(header::EXPIRES),
        e_tag: Some(etag.clone()),
        size: Some(stat.len()),
        modified_ns: stat.modified().ok().and_then(meta::nanos),
        user_metadata: None,
    };
    let root = target.root.to_owned();
    tokio::task::spawn_blocking(move || place(&root, temp, &target.object, &target.sidecar, &meta)).await.map_err(io::Error::other)??;
    Ok(etag)
}

/// Puts a synced upload in place (blocking): the sidecar first (it names the new file, so it
/// never applies to the old one), then the object, then both directories synced.
fn place(root: &Path, temp: Temp, object: &Path, sidecar: &Path, meta: &Meta) -> Result<(), Refused> {
    let parent = object.parent().unwrap_or(root);
    std::fs::create_dir_all(parent).map_err(conflict_or_io)?;
    let sidecar_temp = Temp::new(root)?;
    meta::store(sidecar, meta, &sidecar_temp.path)?;
    sidecar_temp.disarm();
    std::fs::rename(&temp.path, object).map_err(conflict_or_io)?;
    temp.disarm();
    std::fs::File::open(parent)?.sync_all()?;
    std::fs::File::open(root)?.sync_all()?;
    Ok(())
}

fn conflict_or_io(error: io::Error) -> Refused {
    match error.raw_os_error() {
        Some(libc::ENOTDIR | libc::EISDIR | libc::EEXIST | libc::ENOTEMPTY) => Refused::S3(KEY_CONFLICT),
        Some(libc::ENAMETOOLONG) => Refused::S3(s3_error::KEY_TOO_LONG),
        _ => Refused::Io(error),
    }
}

/// A temporary file that is removed unless it was put in place.
struct Temp {
    path: PathBuf,
    armed: bool,
}

impl Temp {
    fn new(root: &Path) -> io::Result<Self> {
        let mut random = [0u8; 12];
        getrandom::getrandom(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self { path: root.join(format!("{TEMP_PREFIX}{}{TEMP_SUFFIX}", hex::encode(random))), armed: true })
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Removes what uploads cut off by a crash left behind (and s3s-fs's temporary files).
pub fn remove_leftovers(root: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
        let s3s_fs = name.starts_with(".tmp.") && name.ends_with(".internal.part");
        if (ours || s3s_fs) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}
