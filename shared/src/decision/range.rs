//! Strict reading of a `Range` header (RFC 9110 §14.1.2, `bytes` only, one range).
//!
//! The edge must read a request exactly as the origin will, and an origin's answer to an odd
//! Range differs between implementations: S3 ignores some forms and answers others with 416,
//! another store serves multipart answers. So one reading only, before anything is spent:
//!
//! ```text
//! Range: bytes=<first>-<last>   bytes=<first>-   bytes=-<suffix length>     (digits, no sign, no spaces)
//! ```
//!
//! Anything else — another unit (`items=0-1`), several ranges (`bytes=0-0,-1`), a last byte
//! before the first, an empty suffix, numbers past 2^63, whitespace, a second `Range` header —
//! is refused with 416 and spends nothing.

/// One byte range, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (both inclusive) or `bytes=first-` (to the end).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// Why a `Range` header is not one plain byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("only one Range header is accepted")]
    Repeated,
    #[error("only a single bytes=first-last, bytes=first- or bytes=-length range is accepted")]
    Syntax,
    #[error("the range ends before it starts")]
    Backwards,
}

/// The request's `Range`, if it has one: `values` are all its `Range` header values.
pub fn read<'a>(mut values: impl Iterator<Item = &'a str>) -> Result<Option<ByteRange>, RangeError> {
    let Some(raw) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(RangeError::Repeated);
    }
    let spec = raw.strip_prefix("bytes=").ok_or(RangeError::Syntax)?;
    let (first, last) = spec.split_once('-').ok_or(RangeError::Syntax)?;
    match (number(first), number(last)) {
        (None, Some(length)) if first.is_empty() && length > 0 => Ok(Some(ByteRange::Suffix(length))),
        (Some(first), None) if last.is_empty() => Ok(Some(ByteRange::From { first, last: None })),
        (Some(first), Some(last)) if last >= first => Ok(Some(ByteRange::From { first, last: Some(last) })),
        (Some(_), Some(_)) => Err(RangeError::Backwards),
        _ => Err(RangeError::Syntax),
    }
}

/// 1 to 19 ASCII digits (at most 2^63 - 1 in effect); nothing else.
fn number(raw: &str) -> Option<u64> {
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|n| *n <= i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(raw: &str) -> Result<Option<ByteRange>, RangeError> {
        read(std::iter::once(raw))
    }

    #[test]
    fn the_three_forms_and_nothing_else() {
        assert_eq!(read(std::iter::empty()), Ok(None));
        assert_eq!(one("bytes=0-499"), Ok(Some(ByteRange::From { first: 0, last: Some(499) })));
        assert_eq!(one("bytes=40000-"), Ok(Some(ByteRange::From { first: 40000, last: None })));
        assert_eq!(one("bytes=-500"), Ok(Some(ByteRange::Suffix(500))));
        assert_eq!(one("bytes=7-7"), Ok(Some(ByteRange::From { first: 7, last: Some(7) })));
        for bad in [
            "items=0-1",
            "bytes=0-0,-1",
            "bytes=",
            "bytes=-",
            "bytes=-0",
            "bytes= 0-1",
            "bytes=0 -1",
            "bytes=+1-2",
            "Bytes=0-1",
            "bytes=0x1-2",
            "bytes=99999999999999999999-",
            "bytes=9223372036854775808-",
            "bytes=1-2-3",
            "0-1",
            "bytes=0-1,",
        ] {
            assert_eq!(one(bad), Err(RangeError::Syntax), "{bad}");
        }
        assert_eq!(one("bytes=5-3"), Err(RangeError::Backwards));
        assert_eq!(read(["bytes=0-1", "bytes=0-1"].into_iter()), Err(RangeError::Repeated));
        let many = format!("bytes={}", vec!["0-1"; 2000].join(","));
        assert_eq!(one(&many), Err(RangeError::Syntax));
    }
}
