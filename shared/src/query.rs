//! A strict reader for viewer query strings.
//!
//! Browsers, CDNs and S3 each have opinions about query strings: `+` as space, `a&&b`, a name
//! without `=` (which S3 reads as a sub-resource: `?acl` turns GetObject into GetObjectAcl),
//! repeated names, names that differ only in case. Every one of those is a chance for the edge
//! and the origin to see two different requests. This reader accepts only one spelling of each
//! request and reports everything else as an error.

use crate::encoding::{EncodingError, decode_query};

/// A parsed query string: decoded `(name, value)` pairs in the order the viewer sent them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    params: Vec<(String, String)>,
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("empty query parameter")]
    EmptyParameter,
    #[error("query parameter without '=' ({0})")]
    MissingValue(String),
    #[error("query parameter name: {0}")]
    BadName(EncodingError),
    #[error("value of {name}: {error}")]
    BadValue { name: String, error: EncodingError },
    #[error("repeated query parameter ({0})")]
    Repeated(String),
}

impl Query {
    /// Parses a raw query string (no leading `?`, still percent-encoded).
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        let mut params: Vec<(String, String)> = Vec::new();
        if raw.is_empty() {
            return Ok(Self { params });
        }
        for segment in raw.split('&') {
            if segment.is_empty() {
                return Err(QueryError::EmptyParameter);
            }
            let Some((raw_name, raw_value)) = segment.split_once('=') else {
                return Err(QueryError::MissingValue(truncate(segment)));
            };
            let name = decode_query(raw_name).map_err(QueryError::BadName)?;
            if name.is_empty() {
                return Err(QueryError::EmptyParameter);
            }
            let value = decode_query(raw_value).map_err(|error| QueryError::BadValue { name: truncate(&name), error })?;
            // Names are compared case-insensitively: S3 and CloudFront disagree on case for
            // some parameters, so `X-Amz-Date` next to `x-amz-date` is a trick, not a request.
            if params.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                return Err(QueryError::Repeated(truncate(&name)));
            }
            params.push((name, value));
        }
        Ok(Self { params })
    }

    /// The value of the parameter with exactly this name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first parameter whose name equals `name` ignoring ASCII case, with its real spelling.
    pub fn get_ignore_case(&self, name: &str) -> Option<(&str, &str)> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// All (name, value) pairs, decoded, in the viewer's order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// All parameter names, in the viewer's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|(n, _)| n.as_str())
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}

/// Error messages never echo more than a short prefix of attacker-controlled input.
fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_canonical_pairs_in_order() {
        let q = Query::parse("x-id=GetObject&X-Amz-Credential=AK%2F2026").unwrap();
        assert_eq!(q.get("X-Amz-Credential"), Some("AK/2026"));
        assert_eq!(q.names().collect::<Vec<_>>(), ["x-id", "X-Amz-Credential"]);
        assert!(Query::parse("").unwrap().is_empty());
        assert_eq!(Query::parse("a=").unwrap().get("a"), Some(""));
    }

    #[test]
    fn refuses_everything_ambiguous() {
        assert_eq!(Query::parse("a=1&&b=2"), Err(QueryError::EmptyParameter));
        assert_eq!(Query::parse("a=1&"), Err(QueryError::EmptyParameter));
        assert_eq!(Query::parse("=1"), Err(QueryError::EmptyParameter));
        assert_eq!(Query::parse("acl"), Err(QueryError::MissingValue("acl".into())));
        assert_eq!(Query::parse("a=1&a=2"), Err(QueryError::Repeated("a".into())));
        assert_eq!(Query::parse("X-Amz-Date=1&x-amz-date=2"), Err(QueryError::Repeated("x-amz-date".into())));
        assert!(matches!(Query::parse("a=b+c"), Err(QueryError::BadValue { .. })));
        assert!(matches!(Query::parse("a%3d=1"), Err(QueryError::BadName(_))));
        assert!(matches!(Query::parse("a=%zz"), Err(QueryError::BadValue { .. })));
    }
}
