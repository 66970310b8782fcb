//! When a download is delivered: how many body bytes of an origin's answer bring the viewer to the
//! object's last byte.
//!
//! The gateway counts every byte it sends; a use's delivery is *complete* when the count reaches
//! the number this module gives — the whole body of a `200`, or a `206` whose range runs to the
//! end of the object. A download cut off before that leaves the use resumable by the same client
//! (`Range`, inside the resume window); a complete one closes it. CloudFront gives no such signal,
//! so on AWS a use is never known to be complete (see infra/README.md).

/// The body bytes after which an answer has delivered the object through its last byte, or
/// `None` when it never does (a `206` that ends before the object does, an unknown length).
pub fn completing_bytes(status: u16, content_length: Option<u64>, content_range: Option<&str>) -> Option<u64> {
    match status {
        200 => content_length,
        206 => {
            let (first, last, size) = parse_content_range(content_range?)?;
            (last + 1 == size).then_some(last - first + 1)
        }
        _ => None,
    }
}

/// `bytes <first>-<last>/<size>` (a known size only).
fn parse_content_range(raw: &str) -> Option<(u64, u64, u64)> {
    let rest = raw.trim().strip_prefix("bytes ")?;
    let (range, size) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let (first, last, size) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?, size.parse::<u64>().ok()?);
    (first <= last && last < size).then_some((first, last, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bytes_that_complete_a_download() {
        assert_eq!(completing_bytes(200, Some(1000), None), Some(1000));
        assert_eq!(completing_bytes(200, None, None), None);
        assert_eq!(completing_bytes(206, Some(600), Some("bytes 400-999/1000")), Some(600));
        assert_eq!(completing_bytes(206, Some(100), Some("bytes 0-99/1000")), None, "ends before the object does");
        assert_eq!(completing_bytes(206, Some(100), Some("bytes 0-99/*")), None);
        assert_eq!(completing_bytes(206, None, Some("bytes 9-3/10")), None);
        assert_eq!(completing_bytes(404, Some(10), None), None);
    }
}
