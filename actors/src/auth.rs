//! Who may do what (DESIGN 13.1–13.3): credentials turned into a [`Principal`] by the channels
//! (stage 1), and the admission stage of the dispatcher (stage 2), which authorizes the
//! principal and applies the rate limits.
//!
//! - A channel reads the credential ([`credential`] for HTTP headers: `Authorization: Bearer`
//!   or `X-API-Key`) and calls [`Auth::authenticate`]: an `fg_` key is an API key
//!   (`keys.rs`: looked up once, then cached), anything else a JSON Web Token (`jwt.rs`). No
//!   credential is the anonymous principal, known by its address. A bad credential is 401
//!   `unauthorized` "invalid credential", whatever was wrong with it (the log says what).
//! - [`Auth::admit`] checks a permission (`policy.rs`) for the principal: 401 for an anonymous
//!   caller who needs a credential, 403 `forbidden` naming the missing permission otherwise;
//!   then the rate limit of the principal (its address when anonymous) for the operation,
//!   tool or workflow: 429 `rate_limited`.
//! - With authentication not required, no rate limit and an anonymous caller, admission is
//!   two comparisons: a server without these features pays nothing for them.

mod config;
mod jwt;
mod keys;
mod policy;

pub use config::{AuthConfig, RoleConfig, Secret, is_loopback_host};
pub use jwt::JwtVerifier;
pub use keys::KeyCache;
pub use policy::{ADMIN_AREAS, ANONYMOUS_ROLE, Permission, Policy};

use crate::rate_limit::RateLimiter;
use axum::http::{HeaderMap, HeaderName, header};
use flowgate::{Error, OpKind, Principal};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The error of every credential that does not authenticate.
pub(crate) fn invalid_credential() -> Error {
    Error::Unauthorized("invalid credential".to_string())
}

/// The error of an anonymous caller where a credential is needed.
pub(crate) fn credential_required() -> Error {
    Error::Unauthorized("a credential is required".to_string())
}

/// The error of a principal whose roles do not grant `permission`.
pub(crate) fn forbidden(permission: Permission<'_>) -> Error {
    Error::Forbidden(format!("missing permission `{permission}`"))
}

/// What running `workflow` needs beyond `workflow:<name>`: each model node's `<Model>:<op>`.
pub fn node_permissions(
    workflow: &flowgate::workflow::Workflow,
) -> impl Iterator<Item = Permission<'_>> {
    workflow
        .nodes()
        .iter()
        .filter_map(|node| match node.kind() {
            flowgate::workflow::NodeKind::Model { model, op } => {
                Some(Permission::Op { model, op: *op })
            }
            _ => None,
        })
}

/// A credential as a request carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// None: the anonymous principal.
    None,
    /// A bearer token or API key.
    Token(&'a str),
    /// Something that is not a credential (another scheme, bytes that are not text, two
    /// different credentials at once).
    Malformed,
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The tenant a principal with `admin:tenants` acts for (DESIGN 13.4).
pub(crate) const X_TENANT_ID: HeaderName = HeaderName::from_static("x-tenant-id");

/// The credential of an HTTP request: `Authorization: Bearer <token>` or `X-API-Key: <key>`.
pub fn credential(headers: &HeaderMap) -> Credential<'_> {
    let bearer = headers.get(header::AUTHORIZATION).map(|v| {
        let text = v.to_str().ok()?.trim();
        let (scheme, token) = text.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
            .then_some(token)
    });
    let key = headers
        .get(X_API_KEY)
        .map(|v| v.to_str().ok().map(str::trim).filter(|k| !k.is_empty()));
    match (bearer, key) {
        (None, None) => Credential::None,
        (Some(Some(t)), None) | (None, Some(Some(t))) => Credential::Token(t),
        (Some(Some(a)), Some(Some(b))) if a == b => Credential::Token(a),
        _ => Credential::Malformed,
    }
}

/// The authentication, authorization and rate limits of one server.
pub struct Auth {
    required: bool,
    policy: Policy,
    jwt: Option<JwtVerifier>,
    keys: Arc<KeyCache>,
    limiter: Option<RateLimiter>,
    local_role: String,
    local_tenant: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("required", &self.required)
            .field("jwt", &self.jwt.is_some())
            .field("rate_limit", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Auth {
    /// No credential required, every caller may do everything, no rate limit.
    fn default() -> Auth {
        Auth {
            required: false,
            policy: Policy::new(&Default::default(), true).expect("the built-in roles are valid"),
            jwt: None,
            keys: Arc::new(KeyCache::new(Duration::from_secs(30))),
            limiter: None,
            local_role: "admin".to_string(),
            local_tenant: None,
        }
    }
}

impl Auth {
    /// The auth of `config`, where `all_loopback` says whether every listener is on a loopback
    /// address and `limiter` is the rate limiter of `[rate_limit]` (or none). A bad role, key
    /// or JWT setting is an error naming the key; so is a listener beyond loopback without
    /// authentication, unless `auth.allow_anonymous` says so on purpose.
    pub fn new(
        config: &AuthConfig,
        all_loopback: bool,
        limiter: Option<RateLimiter>,
    ) -> Result<Auth, String> {
        let required = config.is_required(all_loopback);
        if !required && !all_loopback && !config.allow_anonymous {
            return Err(
                "auth.required is false but a listener is on a non-loopback address: anyone who \
                 can reach it could read and delete every record. Require authentication, bind \
                 to 127.0.0.1, or set auth.allow_anonymous = true to serve anonymous callers on \
                 purpose"
                    .to_string(),
            );
        }
        let policy = Policy::new(&config.roles, !required)?;
        if !policy.knows(&config.local_role) {
            return Err(format!(
                "auth.local_role: unknown role `{}` (configure it under [auth.roles.{}])",
                config.local_role, config.local_role
            ));
        }
        if let Some(t) = &config.local_tenant {
            flowgate::context::check_tenant_id(t)
                .map_err(|e| format!("auth.local_tenant: {}", e.public_message()))?;
        }
        Ok(Auth {
            required,
            policy,
            jwt: JwtVerifier::new(config)?,
            keys: Arc::new(KeyCache::new(Duration::from_secs(config.key_cache_seconds))),
            limiter: limiter.filter(|l| l.is_active()),
            local_role: config.local_role.clone(),
            local_tenant: config.local_tenant.clone(),
        })
    }

    /// Whether every request needs a credential.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The API keys.
    pub fn keys(&self) -> &Arc<KeyCache> {
        &self.keys
    }

    /// The rate limiter, when a limit is configured.
    pub fn limiter(&self) -> Option<&RateLimiter> {
        self.limiter.as_ref()
    }

    /// The principal of the process itself (`mcp --stdio`, the CLI's local mode).
    pub fn local_principal(&self) -> Principal {
        Principal {
            tenant: self.local_tenant.clone(),
            ..Principal::local(&self.local_role)
        }
    }

    /// The tenant the `local` principal acts for (`auth.local_tenant`).
    pub fn local_tenant(&self) -> Option<String> {
        self.local_tenant.clone()
    }

    /// The principal of a credential; `addr` names an anonymous caller.
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        addr: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        match credential {
            Credential::None => Ok(Principal::anonymous(addr)),
            Credential::Malformed => {
                tracing::info!(reason = "malformed credential", "credential refused");
                Err(invalid_credential())
            }
            Credential::Token(token) if flowgate::keys::looks_like_key(token) => {
                let result = self.keys.principal(token).await;
                if let Err(Error::Unauthorized(_)) = &result {
                    tracing::info!(
                        reason = "unknown, revoked or expired API key",
                        "credential refused"
                    );
                }
                result
            }
            Credential::Token(token) => match &self.jwt {
                Some(jwt) => jwt.verify(token).map_err(|reason| {
                    tracing::info!(reason = %reason, "credential refused");
                    invalid_credential()
                }),
                None => {
                    tracing::info!(
                        reason = "not an API key, and no JWT key is configured",
                        "credential refused"
                    );
                    Err(invalid_credential())
                }
            },
        }
    }

    /// Whether `principal` holds `permission`: 401 for an anonymous caller without it, 403
    /// naming the permission for anyone else.
    pub fn authorize(
        &self,
        principal: &Principal,
        permission: Permission<'_>,
    ) -> Result<(), Error> {
        let allowed = if principal.is_anonymous() {
            self.policy.anonymous_allows(permission)
        } else {
            self.policy.allows(&principal.roles, permission)
        };
        if allowed {
            Ok(())
        } else if principal.is_anonymous() {
            Err(credential_required())
        } else {
            Err(forbidden(permission))
        }
    }

    /// The tenant a request acts for (DESIGN 13.4): the principal's own (its API key's tenant,
    /// its token's claim), unless it asks for one (`X-Tenant-ID`, `--tenant`): acting for a
    /// tenant other than its own takes `admin:tenants` (401 for an anonymous caller where
    /// credentials count, 403 naming the permission otherwise). An id that cannot name a
    /// tenant is a validation error naming `field`.
    pub fn tenant_for(
        &self,
        principal: &Principal,
        asked: Option<&str>,
        field: &str,
    ) -> Result<Option<String>, Error> {
        let Some(asked) = asked else {
            return Ok(principal.tenant.clone());
        };
        flowgate::context::check_tenant_id(asked).map_err(|e| match e {
            Error::Validation { reason, .. } => Error::validation(field, reason),
            other => other,
        })?;
        if principal.tenant.as_deref() != Some(asked) {
            self.authorize(principal, Permission::Admin("tenants"))?;
        }
        Ok(Some(asked.to_string()))
    }

    /// [`Auth::tenant_for`] with the tenant a request's `X-Tenant-ID` header asks for (REST,
    /// `/nodes`, MCP over HTTP).
    pub fn tenant_from_headers(
        &self,
        principal: &Principal,
        headers: &HeaderMap,
    ) -> Result<Option<String>, Error> {
        let asked =
            match headers.get(X_TENANT_ID) {
                None => None,
                Some(v) => Some(v.to_str().map_err(|_| {
                    Error::validation("X-Tenant-ID", "a tenant id is printable ASCII")
                })?),
            };
        self.tenant_for(principal, asked, "X-Tenant-ID")
    }

    /// Whether `principal` may do `permission`, without an error.
    pub fn may(&self, principal: &Principal, permission: Permission<'_>) -> bool {
        if principal.is_anonymous() {
            self.policy.anonymous_allows(permission)
        } else {
            self.policy.allows(&principal.roles, permission)
        }
    }

    /// The admission stage for a model's operation: authorization, then the rate limit of the
    /// caller for it (under its MCP tool name `<table>_<op>` or node name `<Model><Op>Node`
    /// when an override names it, else the default limit).
    pub async fn admit_op(
        &self,
        principal: &Principal,
        model: &str,
        table: &str,
        op: OpKind,
    ) -> Result<(), Error> {
        if principal.is_anonymous() && self.policy.anonymous_may_do_all() && self.limiter.is_none()
        {
            return Ok(());
        }
        self.authorize(principal, Permission::Op { model, op })?;
        if let Some(limiter) = &self.limiter {
            let names = if limiter.has_overrides() {
                vec![op.tool_name(table), op.node_name(model)]
            } else {
                Vec::new()
            };
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            limit(limiter, principal, &names).await?;
        }
        Ok(())
    }

    /// The admission stage for a workflow run: `workflow:<name>`, and its rate limit.
    pub async fn admit_workflow(&self, principal: &Principal, name: &str) -> Result<(), Error> {
        if principal.is_anonymous() && self.policy.anonymous_may_do_all() && self.limiter.is_none()
        {
            return Ok(());
        }
        self.authorize(principal, Permission::Workflow(name))?;
        if let Some(limiter) = &self.limiter {
            limit(limiter, principal, &[&format!("workflow:{name}")]).await?;
        }
        Ok(())
    }
}

async fn limit(limiter: &RateLimiter, principal: &Principal, names: &[&str]) -> Result<(), Error> {
    let decision = limiter.check(&principal.id, names).await?;
    if decision.allowed {
        Ok(())
    } else {
        Err(Error::RateLimited {
            retry_after_ms: decision.retry_after_ms.max(1),
            limit: decision.limit,
            reset_ms: decision.reset_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn credentials_from_headers() {
        assert_eq!(credential(&headers(&[])), Credential::None);
        assert_eq!(
            credential(&headers(&[("authorization", "Bearer abc")])),
            Credential::Token("abc")
        );
        assert_eq!(
            credential(&headers(&[("authorization", "bearer  abc ")])),
            Credential::Token("abc")
        );
        assert_eq!(
            credential(&headers(&[("x-api-key", "fg_x")])),
            Credential::Token("fg_x")
        );
        assert_eq!(
            credential(&headers(&[
                ("authorization", "Bearer a"),
                ("x-api-key", "a")
            ])),
            Credential::Token("a")
        );
        for bad in [
            headers(&[("authorization", "Basic dXNlcjpwYXNz")]),
            headers(&[("authorization", "Bearer")]),
            headers(&[("authorization", "Bearer a b")]),
            headers(&[("authorization", "Bearer a"), ("x-api-key", "b")]),
            headers(&[("x-api-key", "")]),
        ] {
            assert_eq!(credential(&bad), Credential::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn a_public_listener_without_auth_refuses_to_start_unless_told() {
        let open = AuthConfig {
            required: Some(false),
            ..AuthConfig::default()
        };
        let e = Auth::new(&open, false, None).unwrap_err();
        assert!(e.contains("auth.allow_anonymous"), "{e}");
        let on_purpose = AuthConfig {
            allow_anonymous: true,
            ..open.clone()
        };
        assert!(Auth::new(&on_purpose, false, None).is_ok());
        assert!(Auth::new(&open, true, None).is_ok());
        // The default: required beyond loopback, not on it.
        assert!(
            Auth::new(&AuthConfig::default(), false, None)
                .unwrap()
                .is_required()
        );
        assert!(
            !Auth::new(&AuthConfig::default(), true, None)
                .unwrap()
                .is_required()
        );
    }

    #[tokio::test]
    async fn anonymous_callers_need_a_credential_when_it_is_required() {
        let auth = Auth::new(&AuthConfig::default(), false, None).unwrap();
        let anon = auth.authenticate(Credential::None, None).await.unwrap();
        let e = auth
            .admit_op(&anon, "Book", "books", OpKind::Read)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "unauthorized");
        let reader = Principal {
            roles: vec!["reader".into()],
            ..Principal::local("reader")
        };
        auth.admit_op(&reader, "Book", "books", OpKind::Read)
            .await
            .unwrap();
        let e = auth
            .admit_op(&reader, "Book", "books", OpKind::Delete)
            .await
            .unwrap_err();
        assert_eq!(e.code(), "forbidden");
        assert!(e.to_string().contains("Book:delete"), "{e}");
        assert_eq!(
            auth.authenticate(Credential::Token("nonsense"), None)
                .await
                .unwrap_err()
                .to_string(),
            "invalid credential"
        );
    }
}
