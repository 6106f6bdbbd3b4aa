//! `[auth]`: who may call, how credentials are checked, and the roles.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A secret from the configuration: shown as `***` wherever the configuration is printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// `[auth.roles.<name>]`: the permissions a role allows, minus those it denies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleConfig {
    /// Permission patterns granted (`Book:*`, `Author:read`, `workflow:signup`, `admin:keys`).
    pub allow: Vec<String>,
    /// Permission patterns taken back from what `allow` grants.
    pub deny: Vec<String>,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Whether every request needs a credential. Absent: true unless every listener is on a
    /// loopback address.
    pub required: Option<bool>,
    /// Lets a server listen beyond loopback without requiring credentials, on purpose.
    pub allow_anonymous: bool,
    /// The role of the `local` principal (`flowgate mcp --stdio`, the CLI's local mode).
    pub local_role: String,
    /// The tenant the `local` principal acts for (`mcp --stdio`, the CLI's local mode without
    /// `--tenant`) on a multi-tenant server.
    pub local_tenant: Option<String>,
    /// The HS256 secret of JSON Web Tokens.
    pub jwt_secret: Option<Secret>,
    /// A PEM public key (RSA for RS256, EC P-256 for ES256) that signs JSON Web Tokens.
    pub jwt_public_key: Option<PathBuf>,
    /// A JWKS file (`{"keys": [...]}`) of the keys that sign JSON Web Tokens, chosen by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// The `iss` tokens must carry, when set.
    pub jwt_issuer: Option<String>,
    /// The `aud` tokens must carry, when set.
    pub jwt_audience: Option<String>,
    /// The claim holding a token's roles (an array of strings, or one space-separated string).
    pub roles_claim: String,
    /// The claim holding a token's tenant.
    pub tenant_claim: String,
    /// How long an API key looked up in the database is trusted before it is looked up again,
    /// in seconds (a key revoked through another process stops working within this time; one
    /// revoked through this server stops at once).
    pub key_cache_seconds: u64,
    /// The roles (`[auth.roles.editor]`); `admin`, `reader` and `anonymous` are built in.
    pub roles: BTreeMap<String, RoleConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: None,
            allow_anonymous: false,
            local_role: "admin".to_string(),
            local_tenant: None,
            jwt_secret: None,
            jwt_public_key: None,
            jwks_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            roles_claim: "roles".to_string(),
            tenant_claim: "tenant".to_string(),
            key_cache_seconds: 30,
            roles: BTreeMap::new(),
        }
    }
}

impl AuthConfig {
    /// Whether credentials are required, given whether every listener is on loopback.
    pub fn is_required(&self, all_loopback: bool) -> bool {
        self.required.unwrap_or(!all_loopback)
    }

    /// Whether any JWT key is configured.
    pub fn has_jwt(&self) -> bool {
        self.jwt_secret.is_some() || self.jwt_public_key.is_some() || self.jwks_file.is_some()
    }
}

/// Whether `host` (a bind address or name) is a loopback address.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "10.0.0.1", "example.com"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = AuthConfig {
            jwt_secret: Some(Secret("hunter2".into())),
            ..AuthConfig::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
