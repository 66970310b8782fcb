//! A link's policy and its limits: how many uses, how long a resume is free, what name a download
//! is saved under, which Content-Type an upload must send.
//!
//! The limits are part of the link format (the sealed token's fields are sized for them, see
//! docs/link-format.md) and of the issue API's contract; the issuer validates against them and
//! the edge refuses a link whose policy lies outside them.

use crate::encoding::encode_query;

/// Most uses one link may grant.
pub const MAX_USES: u16 = 1000;
/// Longest grace window: Range resumes by the first client within it spend no use.
pub const MAX_GRACE_SECONDS: u32 = 86_400;
/// Longest download name, in bytes.
pub const MAX_FILENAME_BYTES: usize = 200;
/// Longest required Content-Type of an upload link, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 200;

/// Longest caller's tag (an order id, a ticket number), in bytes.
pub const MAX_TAG_BYTES: usize = 64;

/// A tag: 1..=64 characters of `A-Z a-z 0-9 . _ - : / # @ + =`. A tag is shown wherever the
/// link id is (API, CLI, web page, events), so it must be safe in all of them: no spaces, quotes
/// or markup. It is the caller's label, kept in the clear: never a secret.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= MAX_TAG_BYTES && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:/#@+=".contains(&b))
}

/// A printable MIME type of at most [`MAX_CONTENT_TYPE_BYTES`].
pub fn valid_content_type(ct: &str) -> bool {
    !ct.is_empty() && ct.len() <= MAX_CONTENT_TYPE_BYTES && ct.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// A download name: 1..=200 bytes, no control characters, quotes, slashes or backslashes.
pub fn valid_filename(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_FILENAME_BYTES && !name.chars().any(|c| c.is_control() || matches!(c, '"' | '\\' | '/'))
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266):
/// what the origin is asked to send (`response-content-disposition`) for a named download.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", encode_query(filename))
}
