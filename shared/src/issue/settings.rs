//! How links are issued: where objects live, the CDN in front, the limits, the deployment's mode.

use std::time::Duration;

use crate::link::LinkMode;
use crate::presign::S3Origin;
use crate::presigned::MAX_EXPIRES_SECS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    pub origin: S3Origin,
    /// CDN domain (`https` implied) or `scheme://host[:port]` base the links point at.
    pub cdn: String,
    pub default_expires: Duration,
    pub max_expires: Duration,
    /// Keys must start with this (empty: any key).
    pub key_prefix: String,
    /// Origins allowed to call the API from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// The deployment's link mode (a request may name it, but not change it).
    pub mode: LinkMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

impl IssuerSettings {
    /// Reads the settings through `lookup` (the environment, in the Lambda function):
    ///
    /// | variable                       | default                 |
    /// |--------------------------------|-------------------------|
    /// | `ONCELINK_BUCKET`              | required                |
    /// | `ONCELINK_REGION`              | `AWS_REGION`            |
    /// | `ONCELINK_CDN_DOMAIN`          | required                |
    /// | `ONCELINK_ORIGIN_ENDPOINT`     | AWS S3 (virtual-hosted) |
    /// | `ONCELINK_DEFAULT_EXPIRES_SECS`| 900                     |
    /// | `ONCELINK_MAX_EXPIRES_SECS`    | 604800 (7 days)         |
    /// | `ONCELINK_KEY_PREFIX`          | empty (any key)         |
    /// | `ONCELINK_CORS_ORIGINS`        | empty (no CORS)         |
    /// | `ONCELINK_MODE`                | `sealed`                |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError { name, problem: "is required".into() });
        let secs = |name: &'static str, default: u64| -> Result<Duration, SettingsError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.parse::<u64>() {
                    Ok(s) if (1..=MAX_EXPIRES_SECS).contains(&s) => Ok(Duration::from_secs(s)),
                    _ => Err(SettingsError { name, problem: format!("must be seconds in 1..={MAX_EXPIRES_SECS}, got {v:?}") }),
                },
            }
        };
        let region = get("ONCELINK_REGION")
            .or_else(|| get("AWS_REGION"))
            .ok_or(SettingsError { name: "ONCELINK_REGION", problem: "is required (or AWS_REGION)".into() })?;
        let settings = Self {
            origin: S3Origin { bucket: required("ONCELINK_BUCKET")?, region, endpoint: get("ONCELINK_ORIGIN_ENDPOINT") },
            cdn: required("ONCELINK_CDN_DOMAIN")?,
            default_expires: secs("ONCELINK_DEFAULT_EXPIRES_SECS", 900)?,
            max_expires: secs("ONCELINK_MAX_EXPIRES_SECS", MAX_EXPIRES_SECS)?,
            key_prefix: get("ONCELINK_KEY_PREFIX").unwrap_or_default(),
            cors_origins: get("ONCELINK_CORS_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            mode: match get("ONCELINK_MODE") {
                None => LinkMode::Sealed,
                Some(raw) => LinkMode::parse(&raw)
                    .ok_or(SettingsError { name: "ONCELINK_MODE", problem: format!("must be sealed or presigned, got {raw:?}") })?,
            },
        };
        if settings.default_expires > settings.max_expires {
            return Err(SettingsError {
                name: "ONCELINK_DEFAULT_EXPIRES_SECS",
                problem: "is larger than ONCELINK_MAX_EXPIRES_SECS".into(),
            });
        }
        Ok(settings)
    }

    /// The CDN's host (and port), as the viewer will send it in `Host`.
    pub fn cdn_host(&self) -> String {
        let rest = self.cdn.split_once("://").map_or(self.cdn.as_str(), |(_, rest)| rest);
        rest.split('/').next().unwrap_or("").to_ascii_lowercase()
    }

    /// The CDN's web origin, `scheme://host[:port]`, as a browser sends it in `Origin` for a page
    /// loaded from there: lower case, the scheme's default port left out.
    pub fn cdn_origin(&self) -> String {
        let scheme = self.cdn.split_once("://").map_or("https", |(scheme, _)| scheme).to_ascii_lowercase();
        let host = self.cdn_host();
        let default_port = match scheme.as_str() {
            "https" => Some(":443"),
            "http" => Some(":80"),
            _ => None,
        };
        let host = default_port.and_then(|port| host.strip_suffix(port)).unwrap_or(&host);
        format!("{scheme}://{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cdn(cdn: &str) -> IssuerSettings {
        IssuerSettings::from_lookup(|name| match name {
            "ONCELINK_BUCKET" => Some("b".into()),
            "ONCELINK_REGION" => Some("eu-west-1".into()),
            "ONCELINK_CDN_DOMAIN" => Some(cdn.into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn host_and_origin_of_the_cdn() {
        for (cdn, host, origin) in [
            ("d111.cloudfront.net", "d111.cloudfront.net", "https://d111.cloudfront.net"),
            ("https://Files.Example.com/", "files.example.com", "https://files.example.com"),
            ("https://files.example.com:443", "files.example.com:443", "https://files.example.com"),
            ("http://127.0.0.1:8787", "127.0.0.1:8787", "http://127.0.0.1:8787"),
            ("HTTP://localhost:80/base", "localhost:80", "http://localhost"),
            ("https://files.example.com:8443", "files.example.com:8443", "https://files.example.com:8443"),
        ] {
            let settings = with_cdn(cdn);
            assert_eq!(settings.cdn_host(), host, "{cdn}");
            assert_eq!(settings.cdn_origin(), origin, "{cdn}");
        }
    }
}
