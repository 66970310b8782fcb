//! Percent-encoding exactly as S3 and SigV4 expect it, and the strict decoding the edge uses.
//!
//! The edge must read a link byte for byte the way the origin will. We therefore accept only the
//! *canonical* encoding: the one SigV4 itself produces (RFC 3986 unreserved characters left alone,
//! everything else `%XX` with upper-case hex). Anything that two parsers could read differently
//! (`+` for space, lower-case hex, an encoded unreserved character, a stray `%`) is refused rather
//! than guessed at.

use percent_encoding::{AsciiSet, CONTROLS};

/// Every byte except the RFC 3986 unreserved set (`A-Z a-z 0-9 - . _ ~`) is encoded.
/// This is the set `aws-smithy-http` uses for query values, so our presigned URLs are
/// byte-identical to the SDK's.
pub const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');

/// Object keys in a path keep their `/` separators ("greedy" labels in Smithy terms).
pub const KEY_PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Encodes an object key for the URL path (without the leading `/`).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    push_key(&mut out, key);
    out
}

/// Encodes a query parameter name or value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    push_query(&mut out, value);
    out
}

/// Appends `value`, encoded for a query ([`QUERY_VALUE`]), to `out`.
pub fn push_query(out: &mut String, value: &str) {
    push_encoded(out, value, &KEEP_IN_QUERY);
}

/// Appends `key`, encoded for a path ([`KEY_PATH`]), to `out`.
pub fn push_key(out: &mut String, key: &str) {
    push_encoded(out, key, &KEEP_IN_PATH);
}

/// Which bytes stay as they are: the RFC 3986 unreserved set (and `/` in a path). Every other
/// byte, non-ASCII ones included, is `%XX`: exactly what `utf8_percent_encode` does with
/// [`QUERY_VALUE`] and [`KEY_PATH`] (a test compares all 256 bytes), without its per-chunk
/// iterator: signing a link encodes a dozen strings.
const fn keep_table(slash: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') || (slash && c == b'/');
        b += 1;
    }
    table
}

static KEEP_IN_QUERY: [bool; 256] = keep_table(false);
static KEEP_IN_PATH: [bool; 256] = keep_table(true);
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Runs of kept bytes are copied whole; every other byte becomes `%XX` (upper-case hex).
fn push_encoded(out: &mut String, value: &str, keep: &[bool; 256]) {
    let bytes = value.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if keep[usize::from(b)] {
            continue;
        }
        // `run..i` holds only (kept, ASCII) bytes: `get` never misses a non-empty run.
        out.push_str(value.get(run..i).unwrap_or_default());
        out.push('%');
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        run = i + 1;
    }
    out.push_str(value.get(run..).unwrap_or_default());
}

/// Why an encoded string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodingError {
    #[error("malformed percent-encoding")]
    Malformed,
    #[error("percent-encoding decodes to invalid UTF-8")]
    NotUtf8,
    #[error("not in canonical form (could be read differently by the origin)")]
    NotCanonical,
}

/// Decodes a query parameter name or value and insists that [`encode_query`] of the result
/// gives back exactly `raw`: every other spelling of the same bytes is refused.
pub fn decode_query(raw: &str) -> Result<String, EncodingError> {
    decode_canonical(raw, &KEEP_IN_QUERY)
}

/// Decodes an object key from the URL path (without the leading `/`) and insists that
/// [`encode_key`] of the result gives back exactly `raw`.
pub fn decode_key(raw: &str) -> Result<String, EncodingError> {
    decode_canonical(raw, &KEEP_IN_PATH)
}

/// One pass: a kept byte must stand as itself, every other byte as `%XX` in upper-case hex
/// (the encoder's one spelling), and the bytes must be UTF-8. Errors rank as they would if
/// checked one after the other over the whole string: malformed, then not UTF-8, then not
/// canonical.
fn decode_canonical(raw: &str, keep: &[bool; 256]) -> Result<String, EncodingError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut canonical = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) else {
                return Err(EncodingError::Malformed);
            };
            let decoded = hi << 4 | lo;
            let upper = !bytes[i + 1].is_ascii_lowercase() && !bytes[i + 2].is_ascii_lowercase();
            canonical &= upper && !keep[usize::from(decoded)];
            out.push(decoded);
            i += 3;
        } else {
            canonical &= keep[usize::from(b)];
            out.push(b);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| EncodingError::NotUtf8)?;
    if !canonical {
        return Err(EncodingError::NotCanonical);
    }
    Ok(decoded)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use percent_encoding::{percent_decode_str, utf8_percent_encode};

    use super::*;

    /// What the one-pass decoder must equal: decode with `percent_encoding`, re-encode with
    /// the `AsciiSet`, compare with the input (malformed escapes checked first).
    fn reference(raw: &str, set: &'static AsciiSet) -> Result<String, EncodingError> {
        let bytes = raw.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                if !(bytes.len() > i + 2 && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()) {
                    return Err(EncodingError::Malformed);
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        let decoded = percent_decode_str(raw).decode_utf8().map_err(|_| EncodingError::NotUtf8)?;
        if utf8_percent_encode(&decoded, set).to_string() != raw {
            return Err(EncodingError::NotCanonical);
        }
        Ok(decoded.into_owned())
    }

    #[test]
    fn the_one_pass_decoder_agrees_with_decode_and_re_encode() {
        let alphabet: Vec<&str> =
            vec!["a", "Z", "0", "-", "~", "/", "+", " ", "é", "%", "%2F", "%2f", "%41", "%C3", "%A9", "%FF", "%4", "%zz", "%20", "="];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut raw = String::new();
            for _ in 0..(seed % 9) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                raw.push_str(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            assert_eq!(decode_query(&raw), reference(&raw, QUERY_VALUE), "query {raw:?}");
            assert_eq!(decode_key(&raw), reference(&raw, KEY_PATH), "key {raw:?}");
        }
    }

    #[test]
    fn keys_keep_slashes_and_encode_the_rest() {
        assert_eq!(encode_key("reports/2026/a b+c.pdf"), "reports/2026/a%20b%2Bc.pdf");
        assert_eq!(encode_key("ü~-._"), "%C3%BC~-._");
    }

    #[test]
    fn query_values_encode_slashes() {
        assert_eq!(encode_query("AK/20260101/us-east-1/s3/aws4_request"), "AK%2F20260101%2Fus-east-1%2Fs3%2Faws4_request");
    }

    /// The byte tables agree with the `AsciiSet`s (the edge decodes with those) on every byte.
    #[test]
    fn the_fast_encoder_is_the_ascii_sets_encoder() {
        for (set, push) in [(QUERY_VALUE, push_query as fn(&mut String, &str)), (KEY_PATH, push_key)] {
            for b in 0..=127u8 {
                let mut ours = String::new();
                push(&mut ours, char::from(b).encode_utf8(&mut [0; 4]));
                assert_eq!(ours, percent_encoding::percent_encode(&[b], set).to_string(), "byte {b:#04x}");
            }
            // Every byte of a non-ASCII character is encoded, between runs kept whole.
            assert!((128..=255u8).all(|b| percent_encoding::percent_encode(&[b], set).to_string().len() == 3));
            for value in ["aé~ü/€ b", "é", "ü€", "plain", "", "a b"] {
                let mut ours = String::new();
                push(&mut ours, value);
                assert_eq!(ours, utf8_percent_encode(value, set).to_string(), "{value:?}");
            }
        }
    }

    #[test]
    fn canonical_round_trip_is_accepted() {
        for s in ["plain", "a%20b", "%C3%BC", "x%2Fy", ""] {
            let d = decode_query(s).unwrap();
            assert_eq!(encode_query(&d), s);
        }
    }

    #[test]
    fn alternative_spellings_are_refused() {
        assert_eq!(decode_query("a+b"), Err(EncodingError::NotCanonical));
        assert_eq!(decode_query("a%2fb"), Err(EncodingError::NotCanonical));
        assert_eq!(decode_query("%41"), Err(EncodingError::NotCanonical));
        assert_eq!(decode_query("a/b"), Err(EncodingError::NotCanonical));
        assert_eq!(decode_query("%"), Err(EncodingError::Malformed));
        assert_eq!(decode_query("%4"), Err(EncodingError::Malformed));
        assert_eq!(decode_query("%zz"), Err(EncodingError::Malformed));
        assert_eq!(decode_query("%FF"), Err(EncodingError::NotUtf8));
        assert_eq!(decode_key("a/b").unwrap(), "a/b");
    }
}
