//! An error and its sources on one line, `a: b: c`: what the gateway tells an operator when a
//! dependency is away. Drivers and clients often say little at the top ("error connecting to
//! server", "client error (Connect)") and the reason at the bottom ("Connection refused"), so
//! every level is kept, each once. None of the errors it is used on carries a URL's secret or a
//! parameter's value (the callers redact URLs before they name them).

/// `error` and each of its sources, joined by `": "`; a source already quoted by the level
/// above is not repeated; line breaks become spaces.
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("client error (Connect)")]
    struct Top(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("tcp connect error")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_level_once_on_one_line() {
        let error = Top(Middle(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection\nrefused")));
        assert_eq!(causes(&error), "client error (Connect): tcp connect error: Connection refused");
        assert_eq!(causes(&std::io::Error::other("alone")), "alone");
    }
}
