//! API keys: created once, shown once, kept only as a hash in `flowgate_api_keys`.
//!
//! A key is `fg_` followed by 43 base62 characters (32 random bytes from the operating system).
//! The table keeps its SHA-256 (hex), its first characters (`prefix`, to recognise it in a
//! list), its name, roles, tenant, expiry, revocation and last use; never the key.
//!
//! Like the registry's tables, `flowgate_api_keys` is a model of an internal schema, read and
//! written through the ordinary operations on a sibling store sharing the application's pool.
//! A key is looked up by its hash through a unique index: the database compares hashes, which
//! reveals nothing useful about the key (a caller cannot steer a SHA-256 prefix), and the hash
//! it returns is compared again in constant time.

use crate::context::Context;
use crate::error::{Error, Missing, Result};
use crate::model::{FieldDef, ModelDef, Schema};
use crate::operation::OpKind;
use crate::sql;
use crate::store::Store;
use crate::value::{format_datetime, now};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

const MODEL: &str = "FlowgateApiKey";
const TABLE: &str = "flowgate_api_keys";

/// What every key starts with.
pub const KEY_PREFIX: &str = "fg_";

/// How many characters of a key (its `fg_` included) are kept to recognise it.
const SHOWN: usize = 10;

/// The longest name, role list or tenant a key may have.
const MAX_NAME: usize = 64;

fn key_model() -> ModelDef {
    ModelDef::new(MODEL)
        .table(TABLE)
        .field(
            FieldDef::string("name")
                .max_length(MAX_NAME as u32)
                .unique(),
        )
        .field(FieldDef::string("prefix").max_length(16))
        .field(FieldDef::string("hash").max_length(64).unique())
        .field(FieldDef::text("roles"))
        .field(
            FieldDef::string("tenant")
                .max_length(MAX_NAME as u32)
                .optional(),
        )
        .field(FieldDef::datetime("expires_at").optional())
        .field(FieldDef::datetime("revoked_at").optional())
        .field(FieldDef::datetime("last_used_at").optional())
}

/// A key as stored: everything but the key itself.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// Its id.
    pub id: i64,
    /// Its name, unique on the database.
    pub name: String,
    /// Its first characters (`fg_` and seven more), to recognise it.
    pub prefix: String,
    /// The roles it grants.
    pub roles: Vec<String>,
    /// The tenant it acts for, if any.
    pub tenant: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (recorded in batches, so up to a few seconds late).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl KeyInfo {
    /// Whether the key may be used at `now`: not revoked, not expired.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if !self.is_usable(now) {
            "expired"
        } else {
            "active"
        }
    }

    /// The key as `GET /admin/keys` and `flowgate keys list --json` show it: every field, the
    /// datetimes as RFC 3339 text, and its `status`.
    pub fn to_json(&self) -> Value {
        let at = |d: &Option<DateTime<Utc>>| d.as_ref().map(format_datetime);
        json!({
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "roles": self.roles,
            "tenant": self.tenant,
            "status": self.status(Utc::now()),
            "created_at": format_datetime(&self.created_at),
            "expires_at": at(&self.expires_at),
            "revoked_at": at(&self.revoked_at),
            "last_used_at": at(&self.last_used_at),
        })
    }

    fn from_row(row: &Value) -> Result<KeyInfo> {
        let bad = |what: &str| Error::internal(format!("{TABLE}.{what} is malformed: {row}"));
        let time = |key: &str| -> Result<Option<DateTime<Utc>>> {
            match &row[key] {
                Value::Null => Ok(None),
                Value::String(s) => DateTime::parse_from_rfc3339(s)
                    .map(|d| Some(d.with_timezone(&Utc)))
                    .map_err(|_| bad(key)),
                _ => Err(bad(key)),
            }
        };
        let roles: Vec<String> = row["roles"]
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| bad("roles"))?;
        Ok(KeyInfo {
            id: row["id"].as_i64().ok_or_else(|| bad("id"))?,
            name: row["name"].as_str().ok_or_else(|| bad("name"))?.to_string(),
            prefix: row["prefix"].as_str().unwrap_or_default().to_string(),
            roles,
            tenant: row["tenant"].as_str().map(str::to_string),
            created_at: time("created_at")?.ok_or_else(|| bad("created_at"))?,
            expires_at: time("expires_at")?,
            revoked_at: time("revoked_at")?,
            last_used_at: time("last_used_at")?,
        })
    }
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewKey {
    /// Its name: letters, digits, `_`, `-`, `.`, at most 64.
    pub name: String,
    /// The roles it grants (at least one).
    pub roles: Vec<String>,
    /// The tenant it acts for.
    pub tenant: Option<String>,
    /// How long it works; forever when `None`.
    pub expires_in: Option<Duration>,
}

impl NewKey {
    /// A key named `name` granting `roles`, for no tenant, never expiring.
    pub fn new<I, S>(name: impl Into<String>, roles: I) -> NewKey
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NewKey {
            name: name.into(),
            roles: roles.into_iter().map(Into::into).collect(),
            tenant: None,
            expires_in: None,
        }
    }

    fn check(&self) -> Result<()> {
        let word = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_NAME
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        if !word(&self.name) {
            return Err(Error::validation(
                "name",
                "must be 1 to 64 letters, digits, '_', '-' or '.'",
            ));
        }
        if self.name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation(
                "name",
                "must not be all digits (a number names a key by id)",
            ));
        }
        if self.roles.is_empty() {
            return Err(Error::validation("roles", "a key needs at least one role"));
        }
        if let Some(i) = self.roles.iter().position(|r| !word(r)) {
            return Err(Error::validation(
                format!("roles.{i}"),
                "must be 1 to 64 letters, digits, '_', '-' or '.'",
            ));
        }
        if let Some(t) = &self.tenant
            && !word(t)
        {
            return Err(Error::validation(
                "tenant",
                "must be 1 to 64 letters, digits, '_', '-' or '.'",
            ));
        }
        if self.expires_in == Some(Duration::ZERO) {
            return Err(Error::validation("expires_in", "must be longer than zero"));
        }
        Ok(())
    }
}

/// The API keys of one database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    store: Store,
}

fn schema() -> Schema {
    Schema::internal([key_model()]).expect("the key model is valid")
}

impl ApiKeys {
    /// The keys on `app`'s database; creates `flowgate_api_keys` if it is missing.
    pub async fn open(app: &Store) -> Result<ApiKeys> {
        let store = app.sibling(schema());
        store.create_tables().await?;
        Ok(ApiKeys { store })
    }

    /// The keys on `app`'s database when the table exists; creates nothing.
    pub async fn existing(app: &Store) -> Result<Option<ApiKeys>> {
        let stmt = sql::alter::table_exists(app.dialect(), TABLE);
        if app.lease().await?.scalar(&stmt).await? == 0 {
            return Ok(None);
        }
        Ok(Some(ApiKeys {
            store: app.sibling(schema()),
        }))
    }

    async fn op(&self, kind: OpKind, params: Value) -> Result<Value> {
        let m = self.store.model(MODEL)?;
        self.store
            .run(&Context::internal(), &m, kind, &params)
            .await
    }

    /// Creates a key: returns what is stored and the key itself, which is never shown again.
    /// A name already taken is a conflict naming `name`.
    pub async fn create(&self, new: NewKey) -> Result<(KeyInfo, String)> {
        new.check()?;
        let secret = generate_secret();
        let expires_at = match new.expires_in {
            None => Value::Null,
            Some(d) => {
                let d = chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| now().checked_add_signed(d))
                    .ok_or_else(|| Error::validation("expires_in", "is too long"))?;
                Value::String(format_datetime(&d))
            }
        };
        let row = self
            .op(
                OpKind::Create,
                json!({
                    "name": new.name,
                    "prefix": &secret[..SHOWN],
                    "hash": hash_secret(&secret),
                    "roles": serde_json::to_string(&new.roles).unwrap_or_default(),
                    "tenant": new.tenant,
                    "expires_at": expires_at,
                }),
            )
            .await
            .map_err(|e| match e {
                Error::Conflict { .. } => Error::Conflict {
                    field: Some("name".to_string()),
                    reason: format!("a key named {} exists", new.name),
                },
                other => other,
            })?;
        Ok((KeyInfo::from_row(&row)?, secret))
    }

    /// Every key, oldest first (revoked and expired ones too).
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let mut params = json!({"limit": 1000, "order_by": ["id"]});
            if let Some(c) = &cursor {
                params["cursor"] = c.clone();
            }
            let page = self.op(OpKind::List, params).await?;
            for rec in page["records"].as_array().into_iter().flatten() {
                out.push(KeyInfo::from_row(rec)?);
            }
            match page.get("next_cursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => return Ok(out),
            }
        }
    }

    async fn named(&self, name_or_id: &str) -> Result<Option<Value>> {
        let filter = match name_or_id.parse::<i64>() {
            Ok(id) => json!({"id": id}),
            Err(_) => json!({"name": name_or_id}),
        };
        let page = self
            .op(OpKind::List, json!({"filter": filter, "limit": 1}))
            .await?;
        Ok(page["records"].as_array().and_then(|r| r.first()).cloned())
    }

    /// The key named `name_or_id` (a name, or an id in digits); not found otherwise.
    pub async fn get(&self, name_or_id: &str) -> Result<KeyInfo> {
        match self.named(name_or_id).await? {
            Some(row) => KeyInfo::from_row(&row),
            None => Err(Error::not_found(Missing::Record("key".into()), name_or_id)),
        }
    }

    /// Revokes the key named `name_or_id` (a name, or an id in digits): it stops working at once
    /// on this process and within `auth.key_cache_seconds` on others. Revoking a revoked key
    /// changes nothing. Not found when there is no such key.
    pub async fn revoke(&self, name_or_id: &str) -> Result<KeyInfo> {
        let info = self.get(name_or_id).await?;
        if info.revoked_at.is_some() {
            return Ok(info);
        }
        let row = self
            .op(
                OpKind::Update,
                json!({"id": info.id, "fields": {"revoked_at": format_datetime(&now())}}),
            )
            .await?;
        KeyInfo::from_row(&row)
    }

    /// The key whose secret is `secret`, usable or not; `None` when no key has it.
    pub async fn find(&self, secret: &str) -> Result<Option<KeyInfo>> {
        if !looks_like_key(secret) {
            return Ok(None);
        }
        let hash = hash_secret(secret);
        let page = self
            .op(OpKind::List, json!({"filter": {"hash": hash}, "limit": 1}))
            .await?;
        let Some(row) = page["records"].as_array().and_then(|r| r.first()) else {
            return Ok(None);
        };
        let stored = row["hash"].as_str().unwrap_or_default();
        if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
            return Ok(None);
        }
        KeyInfo::from_row(row).map(Some)
    }

    /// Records the last use of keys, `(id, when)`, as a background flush collects them; a key
    /// gone since is skipped.
    pub async fn touch(&self, used: &[(i64, DateTime<Utc>)]) -> Result<()> {
        for (id, at) in used {
            self.op(
                OpKind::BulkUpdate,
                json!({"filter": {"id": id}, "fields": {"last_used_at": format_datetime(at)}}),
            )
            .await?;
        }
        Ok(())
    }
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new key: `fg_` and 32 random bytes from the operating system in base62 (43 characters).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    let mut out = String::with_capacity(KEY_PREFIX.len() + 43);
    out.push_str(KEY_PREFIX);
    // Base62 of the 256-bit number, most significant digit first, padded to 43 digits.
    let mut digits = Vec::with_capacity(43);
    let mut n = bytes.to_vec();
    for _ in 0..43 {
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    out.extend(digits.iter().rev().map(|&d| d as char));
    out
}

/// The SHA-256 of a key, in lowercase hex: what the table keeps.
pub fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Whether `s` has the shape of a key (`fg_` and 43 base62 characters), so that a bearer token
/// can be told from a JWT before any lookup.
pub fn looks_like_key(s: &str) -> bool {
    s.len() == KEY_PREFIX.len() + 43
        && s.starts_with(KEY_PREFIX)
        && s[KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s`, `2w` or `1d12h`. A bare number is
/// seconds. The error is a validation error naming `expires_in`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || {
        Error::validation(
            "expires_in",
            format!("{s:?} is not a duration: use a number with s, m, h, d or w, like 30d or 12h"),
        )
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape_and_differ() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a, b);
        assert!(looks_like_key(&a), "{a}");
        assert_eq!(a.len(), 46);
        assert!(!looks_like_key("fg_short"));
        assert!(!looks_like_key(&a.replace("fg_", "xx_")));
        assert!(!looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(129_600)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(1_209_600)
        );
        for bad in ["", "d", "3x", "12h5", "0d", "-1d", "99999999999999999999w"] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.code(), "validation", "{bad}");
        }
    }

    #[test]
    fn new_keys_are_checked() {
        assert!(NewKey::new("ci-bot", ["reader"]).check().is_ok());
        let e = NewKey::new("", ["reader"]).check().unwrap_err();
        assert!(e.to_string().contains("1 to 64"), "{e}");
        assert!(NewKey::new("123", ["reader"]).check().is_err());
        assert!(NewKey::new("bot", Vec::<String>::new()).check().is_err());
        assert!(NewKey::new("bot", ["a b"]).check().is_err());
    }
}
