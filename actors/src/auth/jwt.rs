//! JSON Web Tokens (`jsonwebtoken`): HS256 with `auth.jwt_secret`, RS256 or ES256 with a PEM
//! public key (`auth.jwt_public_key`) or the keys of a JWKS file (`auth.jwks_file`, chosen by the
//! token's `kid`). `exp` is required, `nbf` is checked when present, `iss` and `aud` when
//! configured; the token's `alg` must be the key's (so `alg: none`, or HS256 signed with a public
//! key as its secret, never verifies).

use super::config::AuthConfig;
use flowgate::{Principal, PrincipalKind};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// A key that verifies tokens, with the one algorithm it verifies.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
    alg: Algorithm,
}

/// The most verified tokens kept (a caller sending endless new tokens only refills it).
const MAX_VERIFIED: usize = 10_000;

/// Verifies tokens and turns their claims into a principal.
pub struct JwtVerifier {
    keys: Vec<Key>,
    /// Tokens that verified, with their principal and `exp`: a token is checked once, then
    /// recognised until it expires (a token cannot change, and the keys are fixed for the
    /// process), so a request pays a map lookup, not a signature check and a JSON parse.
    verified: dashmap::DashMap<String, (Principal, i64)>,
    issuer: Option<String>,
    audience: Option<String>,
    roles_claim: String,
    tenant_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// The verifier of `config`, or `None` when no key is configured. A key that cannot be
    /// read is an error naming the key (`auth.jwt_public_key: ...`), never showing a secret.
    pub fn new(config: &AuthConfig) -> Result<Option<JwtVerifier>, String> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.jwt_secret {
            if secret.0.len() < 32 {
                return Err("auth.jwt_secret: must be at least 32 bytes".to_string());
            }
            keys.push(Key {
                kid: None,
                key: DecodingKey::from_secret(secret.0.as_bytes()),
                alg: Algorithm::HS256,
            });
        }
        if let Some(path) = &config.jwt_public_key {
            let pem = std::fs::read(path)
                .map_err(|e| format!("auth.jwt_public_key: cannot read {}: {e}", path.display()))?;
            let key = if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                Key {
                    kid: None,
                    key: k,
                    alg: Algorithm::RS256,
                }
            } else if let Ok(k) = DecodingKey::from_ec_pem(&pem) {
                Key {
                    kid: None,
                    key: k,
                    alg: Algorithm::ES256,
                }
            } else {
                return Err(format!(
                    "auth.jwt_public_key: {} is not an RSA or EC public key in PEM",
                    path.display()
                ));
            };
            keys.push(key);
        }
        if let Some(path) = &config.jwks_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("auth.jwks_file: cannot read {}: {e}", path.display()))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| format!("auth.jwks_file: {} is not a JWKS: {e}", path.display()))?;
            for jwk in &set.keys {
                let alg = match &jwk.algorithm {
                    AlgorithmParameters::RSA(_) => Algorithm::RS256,
                    AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    _ => {
                        return Err(format!(
                            "auth.jwks_file: {}: only RSA (RS256) and EC (ES256) keys are served",
                            path.display()
                        ));
                    }
                };
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| format!("auth.jwks_file: {}: {e}", path.display()))?;
                keys.push(Key {
                    kid: jwk.common.key_id.clone(),
                    key,
                    alg,
                });
            }
        }
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(JwtVerifier {
            keys,
            verified: dashmap::DashMap::new(),
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            roles_claim: config.roles_claim.clone(),
            tenant_claim: config.tenant_claim.clone(),
        }))
    }

    /// The principal of a valid token; `Err` with the reason (for the log, never the caller)
    /// otherwise.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let now = chrono::Utc::now().timestamp();
        if let Some(hit) = self.verified.get(token) {
            let (principal, exp) = &*hit;
            if now < *exp {
                return Ok(principal.clone());
            }
        }
        let (principal, exp) = self.check(token)?;
        if exp > now {
            if self.verified.len() >= MAX_VERIFIED {
                self.verified.retain(|_, (_, e)| *e > now);
                if self.verified.len() >= MAX_VERIFIED {
                    self.verified.clear();
                }
            }
            self.verified
                .insert(token.to_string(), (principal.clone(), exp));
        }
        Ok(principal)
    }

    /// Verifies a token fully: its principal and `exp`.
    fn check(&self, token: &str) -> Result<(Principal, i64), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
        let mut last = "no key verifies the token's algorithm".to_string();
        for key in &self.keys {
            if key.alg != header.alg {
                continue;
            }
            if let (Some(want), Some(have)) = (&header.kid, &key.kid)
                && want != have
            {
                continue;
            }
            let mut validation = Validation::new(key.alg);
            validation.set_required_spec_claims(&["exp"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.leeway = 30;
            match &self.audience {
                Some(aud) => validation.set_audience(&[aud]),
                None => validation.validate_aud = false,
            }
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
                    return self.principal(&data.claims).map(|p| (p, exp));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    fn principal(&self, claims: &Map<String, Value>) -> Result<Principal, String> {
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err("the token has no `sub`".to_string()),
        };
        let roles = match claims.get(&self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|r| {
                    r.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("claim `{}` holds a non-string", self.roles_claim))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("claim `{}` is not a list", self.roles_claim)),
        };
        let tenant = match claims.get(&self.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if flowgate::context::check_tenant_id(s).is_ok() => {
                Some(s.clone())
            }
            Some(Value::String(_)) => {
                return Err(format!("claim `{}` is not a tenant id", self.tenant_claim));
            }
            Some(_) => return Err(format!("claim `{}` is not a string", self.tenant_claim)),
        };
        Ok(Principal {
            id: format!("jwt:{sub}"),
            kind: PrincipalKind::Jwt,
            roles,
            tenant,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::config::Secret;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier(issuer: Option<&str>, audience: Option<&str>) -> JwtVerifier {
        JwtVerifier::new(&AuthConfig {
            jwt_secret: Some(Secret(SECRET.into())),
            jwt_issuer: issuer.map(str::to_string),
            jwt_audience: audience.map(str::to_string),
            ..AuthConfig::default()
        })
        .unwrap()
        .unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn hs(claims: Value, secret: &str) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_valid_token_gives_its_roles_and_tenant() {
        let t = hs(
            json!({"sub": "ann", "exp": now() + 60, "roles": ["editor", "reader"], "tenant": "acme"}),
            SECRET,
        );
        let p = verifier(None, None).verify(&t).unwrap();
        assert_eq!(p.id, "jwt:ann");
        assert_eq!(p.kind, PrincipalKind::Jwt);
        assert_eq!(p.roles, ["editor", "reader"]);
        assert_eq!(p.tenant.as_deref(), Some("acme"));
        let spaced = hs(
            json!({"sub": "b", "exp": now() + 60, "roles": "a b"}),
            SECRET,
        );
        assert_eq!(
            verifier(None, None).verify(&spaced).unwrap().roles,
            ["a", "b"]
        );
        // A tenant claim that cannot name a tenant refuses the token.
        for bad in [json!("a b"), json!(""), json!("x".repeat(129)), json!(7)] {
            let t = hs(
                json!({"sub": "c", "exp": now() + 60, "tenant": bad}),
                SECRET,
            );
            assert!(verifier(None, None).verify(&t).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_verified_token_is_recognised_and_only_that_token() {
        let v = verifier(None, None);
        let t = hs(
            json!({"sub": "ann", "exp": now() + 60, "roles": ["a"]}),
            SECRET,
        );
        let first = v.verify(&t).unwrap();
        assert_eq!(v.verify(&t).unwrap(), first);
        assert_eq!(v.verified.len(), 1);
        // The same claims with another signature: checked, and refused.
        let mut forged = t.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(v.verify(&forged).is_err());
        // An expired token is never kept.
        let old = hs(json!({"sub": "ann", "exp": now() - 10}), SECRET);
        let _ = v.verify(&old);
        assert_eq!(v.verified.len(), 1);
    }

    #[test]
    fn bad_tokens_are_refused() {
        let v = verifier(Some("issuer"), Some("api"));
        let good = json!({"sub": "ann", "exp": now() + 60, "iss": "issuer", "aud": "api"});
        assert!(v.verify(&hs(good.clone(), SECRET)).is_ok());
        let mut cases = vec![
            (
                "another key",
                hs(good.clone(), "another-secret-another-secret-xx"),
            ),
            (
                "no exp",
                hs(json!({"sub": "ann", "iss": "issuer", "aud": "api"}), SECRET),
            ),
            (
                "expired",
                hs(
                    json!({"sub": "ann", "exp": now() - 120, "iss": "issuer", "aud": "api"}),
                    SECRET,
                ),
            ),
            (
                "not yet valid",
                hs(
                    json!({"sub": "ann", "exp": now() + 600, "nbf": now() + 300, "iss": "issuer", "aud": "api"}),
                    SECRET,
                ),
            ),
            (
                "other issuer",
                hs(
                    json!({"sub": "ann", "exp": now() + 60, "iss": "x", "aud": "api"}),
                    SECRET,
                ),
            ),
            (
                "other audience",
                hs(
                    json!({"sub": "ann", "exp": now() + 60, "iss": "issuer", "aud": "x"}),
                    SECRET,
                ),
            ),
            (
                "no sub",
                hs(
                    json!({"exp": now() + 60, "iss": "issuer", "aud": "api"}),
                    SECRET,
                ),
            ),
            ("garbage", "not.a.token".to_string()),
        ];
        // alg: none, with the good claims and no signature.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(good.to_string())
        );
        cases.push(("alg none", none));
        // HS384 with the right secret: not the configured algorithm.
        let hs384 = encode(
            &Header::new(Algorithm::HS384),
            &good,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        cases.push(("another algorithm", hs384));
        for (what, token) in cases {
            assert!(v.verify(&token).is_err(), "{what} was accepted");
        }
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(FIXTURES).join(name)
    }

    fn signed(alg: Algorithm, kid: Option<&str>, private: &str, claims: &Value) -> String {
        let pem = std::fs::read(fixture(private)).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
            other => panic!("{other:?}"),
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        encode(&header, claims, &key).unwrap()
    }

    #[test]
    fn rs256_and_es256_with_a_pem_public_key() {
        let claims = json!({"sub": "svc", "exp": now() + 60, "roles": ["reader"]});
        for (alg, public, private) in [
            (Algorithm::RS256, "rsa-public.pem", "rsa-private.pem"),
            (Algorithm::ES256, "ec-public.pem", "ec-private.pem"),
        ] {
            let v = JwtVerifier::new(&AuthConfig {
                jwt_public_key: Some(fixture(public)),
                ..AuthConfig::default()
            })
            .unwrap()
            .unwrap();
            let p = v.verify(&signed(alg, None, private, &claims)).unwrap();
            assert_eq!(
                (p.id.as_str(), p.roles.as_slice()),
                ("jwt:svc", &["reader".to_string()][..])
            );
            // HS256 with the public key's text as the secret (algorithm confusion): refused.
            let pem = std::fs::read(fixture(public)).unwrap();
            let confused = encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(&pem),
            )
            .unwrap();
            assert!(
                v.verify(&confused).is_err(),
                "{alg:?}: HS256 with the public key"
            );
            // Signed by the other key pair: refused.
            let other = if alg == Algorithm::RS256 {
                signed(Algorithm::ES256, None, "ec-private.pem", &claims)
            } else {
                signed(Algorithm::RS256, None, "rsa-private.pem", &claims)
            };
            assert!(v.verify(&other).is_err(), "{alg:?}: the other key");
            let expired = json!({"sub": "svc", "exp": now() - 120});
            assert!(v.verify(&signed(alg, None, private, &expired)).is_err());
        }
    }

    #[test]
    fn a_jwks_file_chooses_the_key_by_kid() {
        let v = JwtVerifier::new(&AuthConfig {
            jwks_file: Some(fixture("jwks.json")),
            ..AuthConfig::default()
        })
        .unwrap()
        .unwrap();
        let claims = json!({"sub": "svc", "exp": now() + 60, "tenant": "acme"});
        let rs = signed(Algorithm::RS256, Some("rsa-1"), "rsa-private.pem", &claims);
        assert_eq!(v.verify(&rs).unwrap().tenant.as_deref(), Some("acme"));
        let es = signed(Algorithm::ES256, Some("ec-1"), "ec-private.pem", &claims);
        assert!(v.verify(&es).is_ok());
        // Without a kid, the key of the token's algorithm is tried.
        let no_kid = signed(Algorithm::ES256, None, "ec-private.pem", &claims);
        assert!(v.verify(&no_kid).is_ok());
        // A kid naming another key, or none of the set: refused.
        let wrong = signed(Algorithm::RS256, Some("ec-1"), "rsa-private.pem", &claims);
        assert!(v.verify(&wrong).is_err());
        let unknown = signed(Algorithm::RS256, Some("rsa-9"), "rsa-private.pem", &claims);
        assert!(v.verify(&unknown).is_err());
        let e = JwtVerifier::new(&AuthConfig {
            jwks_file: Some(fixture("rsa-public.pem")),
            ..AuthConfig::default()
        })
        .unwrap_err();
        assert!(
            e.starts_with("auth.jwks_file: ") && e.contains("not a JWKS"),
            "{e}"
        );
    }

    #[test]
    fn short_secrets_and_unreadable_keys_are_configuration_errors() {
        let e = JwtVerifier::new(&AuthConfig {
            jwt_secret: Some(Secret("short".into())),
            ..AuthConfig::default()
        })
        .unwrap_err();
        assert!(e.contains("auth.jwt_secret") && !e.contains("short"), "{e}");
        let e = JwtVerifier::new(&AuthConfig {
            jwt_public_key: Some("/nonexistent/key.pem".into()),
            ..AuthConfig::default()
        })
        .unwrap_err();
        assert!(e.starts_with("auth.jwt_public_key"), "{e}");
        assert!(JwtVerifier::new(&AuthConfig::default()).unwrap().is_none());
    }
}
