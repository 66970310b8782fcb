//! The connection pool and its timeouts, and the database URL as it may be shown.
//!
//! Every wait is bounded, so a database that is away, slow or unreachable costs a request a few
//! seconds at most and then a 503, never a hung connection:
//!
//! | wait | bound |
//! |---|---|
//! | opening a connection (TCP + start-up) | [`CONNECT_TIMEOUT`], unless the URL sets `connect_timeout` |
//! | one statement, on the server | [`STATEMENT_TIMEOUT`] (`statement_timeout`, sent at start-up) |
//! | waiting for a free pooled connection | [`WAIT_TIMEOUT`] |
//! | one whole operation, on this side (a dead peer that answers nothing) | [`OPERATION_TIMEOUT`] |
//!
//! A connection that broke (the server restarted, the network dropped) is closed and the pool
//! makes a new one on the next request: the ledger recovers without a restart.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per gateway: a 64-way race on one link queues on the row lock anyway.
pub const MAX_CONNECTIONS: usize = 16;

/// The pool for `url` (`postgres://user:password@host:port/db?…`, or `host=… user=…`); connects
/// lazily.
pub fn pool(url: &str) -> anyhow::Result<Pool> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| anyhow::anyhow!("--database-url {}: {e}", redact(url)))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let statement_timeout = format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis());
    let options = match config.get_options() {
        Some(given) if !given.is_empty() => format!("{given} {statement_timeout}"),
        _ => statement_timeout,
    };
    config.options(&options);
    if config.get_application_name().is_none() {
        config.application_name("oncelink");
    }
    config.keepalives(true).keepalives_idle(Duration::from_secs(30));
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(MAX_CONNECTIONS)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| anyhow::anyhow!("postgres pool: {e}"))
}

/// `url` with its password replaced by `****`, in either form (`scheme://user:pw@…` or
/// `password=pw`): what the start-up banner and errors show.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:****@{host}"),
                None => format!("{userinfo}@{host}"),
            },
            None => authority.to_owned(),
        };
        let tail = redact_pairs(tail, '&');
        return format!("{scheme}://{authority}{tail}");
    }
    redact_pairs(url, ' ')
}

/// `password=…` (in a query string or a key-value string) as `password=****`.
fn redact_pairs(text: &str, separator: char) -> String {
    text.split(separator)
        .map(|part| {
            let (lead, pair) = part.split_at(part.find(|c| c != '?').unwrap_or(part.len()));
            match pair.split_once('=') {
                Some((key, _)) if key.trim().eq_ignore_ascii_case("password") => format!("{lead}{key}=****"),
                _ => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(&separator.to_string())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("postgres://app:s3cret@db.internal:5432/oncelink"), "postgres://app:****@db.internal:5432/oncelink");
        assert_eq!(redact("postgresql://app@db/oncelink?sslmode=disable"), "postgresql://app@db/oncelink?sslmode=disable");
        assert_eq!(redact("postgres://db/oncelink?user=app&password=s3cret"), "postgres://db/oncelink?user=app&password=****");
        assert_eq!(redact("host=db user=app password=s3cret dbname=x"), "host=db user=app password=**** dbname=x");
        assert_eq!(redact("postgres://a:b:c@h/d"), "postgres://a:****@h/d");
    }
}
