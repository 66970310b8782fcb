//! SSM parameter names.
//!
//! Every parameter of one deployment lives under one prefix, by default
//! `/oncelink/<function name>`, where the function name is `AWS_LAMBDA_FUNCTION_NAME` without
//! the `us-east-1.` that Lambda@Edge replicas carry. `ONCELINK_SSM_PREFIX` overrides it (the
//! infrastructure sets it on the regional function to `/oncelink/<deployment name>`).
//!
//! | parameter               | type         | content                     |
//! |-------------------------|--------------|-----------------------------|
//! | `<prefix>/table-name`   | String       | the DynamoDB ledger table   |
//! | `<prefix>/edge-config`  | String       | JSON `{"mode": "sealed"\|"presigned", "preview_user_agents"?: [..]}`; absent = presigned |
//! | `<prefix>/keys`         | SecureString | sealed mode: `{"active": kid, "keys": {kid: base64url secret}}` |

/// The prefix all of the edge's parameters live under.
pub const ROOT: &str = "/oncelink";
/// Name of the parameter holding the ledger table name, relative to the prefix.
pub const TABLE_NAME: &str = "table-name";
/// The edge's JSON settings (mode, preview agents), relative to the prefix.
pub const EDGE_CONFIG: &str = "edge-config";
/// The sealed-mode key set (SecureString), relative to the prefix.
pub const KEYS: &str = "keys";

/// Lambda@Edge runs replicas named `us-east-1.<name>`: the configuration belongs to `<name>`.
pub fn strip_replica_prefix(function_name: &str) -> &str {
    function_name.strip_prefix("us-east-1.").unwrap_or(function_name)
}

/// Resolves the prefix from `ONCELINK_SSM_PREFIX` or `AWS_LAMBDA_FUNCTION_NAME` via `lookup`.
pub fn resolve_prefix(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    if let Some(prefix) = lookup("ONCELINK_SSM_PREFIX").filter(|p| !p.trim().is_empty()) {
        return Some(prefix.trim().trim_end_matches('/').to_owned());
    }
    let function = lookup("AWS_LAMBDA_FUNCTION_NAME")?;
    Some(format!("{ROOT}/{}", strip_replica_prefix(function.trim())))
}

/// Full name of a parameter under `prefix`.
pub fn parameter(prefix: &str, name: &str) -> String {
    format!("{}/{name}", prefix.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_from_function_name_or_override() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(resolve_prefix(env(&[("AWS_LAMBDA_FUNCTION_NAME", "us-east-1.edge-fn")])).as_deref(), Some("/oncelink/edge-fn"));
        assert_eq!(resolve_prefix(env(&[("AWS_LAMBDA_FUNCTION_NAME", "regional-fn")])).as_deref(), Some("/oncelink/regional-fn"));
        assert_eq!(
            resolve_prefix(env(&[("AWS_LAMBDA_FUNCTION_NAME", "x"), ("ONCELINK_SSM_PREFIX", "/oncelink/prod/")])).as_deref(),
            Some("/oncelink/prod")
        );
        assert_eq!(resolve_prefix(env(&[])), None);
        assert_eq!(parameter("/oncelink/prod", TABLE_NAME), "/oncelink/prod/table-name");
        // Only the replica prefix is stripped, not any region-looking text.
        assert_eq!(strip_replica_prefix("eu-west-1.fn"), "eu-west-1.fn");
    }
}
