//! API keys on the request path: looked up in `flowgate_api_keys` the first time they are seen,
//! then trusted from memory for `auth.key_cache_seconds`; their last use is written in batches
//! by a background task, never by the request.

use dashmap::DashMap;
use flowgate::keys::{ApiKeys, KeyInfo};
use flowgate::{Error, Principal, PrincipalKind};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A key as last read from the database (`None`: no key has this hash), with the principal it
/// authenticates as, built once.
#[derive(Clone)]
struct Cached {
    info: Option<Arc<(KeyInfo, Principal)>>,
    at: Instant,
}

fn principal_of(info: &KeyInfo) -> Principal {
    Principal {
        id: format!("key:{}", info.id),
        kind: PrincipalKind::ApiKey,
        roles: info.roles.clone(),
        tenant: info.tenant.clone(),
    }
}

/// The most entries for unknown keys kept before they are dropped (a caller sending random keys
/// must not grow the cache without bound).
const MAX_ENTRIES: usize = 10_000;

/// How often the last uses are written.
const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// The server's API keys: the table once the database is connected, and what was read of it.
pub struct KeyCache {
    store: OnceLock<ApiKeys>,
    entries: DashMap<String, Cached>,
    ttl: Duration,
    used: DashMap<i64, chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("attached", &self.store.get().is_some())
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl KeyCache {
    /// An empty cache trusting what it read for `ttl`.
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            store: OnceLock::new(),
            entries: DashMap::new(),
            ttl,
            used: DashMap::new(),
        }
    }

    /// Attaches the key table (the registry actor does, once the database is connected) and
    /// starts writing last uses every few seconds until the process ends.
    pub fn attach(self: &Arc<Self>, keys: ApiKeys) {
        if self.store.set(keys).is_err() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(cache) = weak.upgrade() else { return };
                cache.flush().await;
            }
        });
    }

    /// The key table, once attached.
    pub fn store(&self) -> Option<&ApiKeys> {
        self.store.get()
    }

    /// The key table, or 503 `not_ready` (`auth` starting) until the database is connected.
    pub fn attached(&self) -> Result<&ApiKeys, Error> {
        self.store.get().ok_or_else(|| Error::NotReady {
            what: "auth".to_string(),
            state: "starting".to_string(),
            retry_after_ms: 1000,
        })
    }

    /// Writes the last uses recorded since the previous flush.
    pub async fn flush(&self) {
        let Some(store) = self.store.get() else {
            return;
        };
        let used: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
            self.used.iter().map(|e| (*e.key(), *e.value())).collect();
        if used.is_empty() {
            return;
        }
        for (id, at) in &used {
            self.used.remove_if(id, |_, v| v == at);
        }
        if let Err(e) = store.touch(&used).await {
            tracing::warn!(error = %e, keys = used.len(), "cannot record the last use of API keys");
        }
    }

    /// The principal of `secret`, or 401 `unauthorized` ("invalid credential") for an unknown,
    /// revoked or expired key; 503 while the key table is not attached yet.
    pub async fn principal(&self, secret: &str) -> Result<Principal, Error> {
        let hash = flowgate::keys::hash_secret(secret);
        let fresh = self
            .entries
            .get(&hash)
            .filter(|c| c.at.elapsed() < self.ttl)
            .map(|c| c.info.clone());
        let info = match fresh {
            Some(info) => info,
            None => {
                let info = self.attached()?.find(secret).await?.map(|i| {
                    let p = principal_of(&i);
                    Arc::new((i, p))
                });
                if self.entries.len() >= MAX_ENTRIES {
                    self.entries.retain(|_, c| c.info.is_some());
                }
                self.entries.insert(
                    hash,
                    Cached {
                        info: info.clone(),
                        at: Instant::now(),
                    },
                );
                info
            }
        };
        let now = chrono::Utc::now();
        match info {
            Some(entry) if entry.0.is_usable(now) => {
                let (info, principal) = &*entry;
                // The last use to a second: most requests only read the map.
                let recent = self
                    .used
                    .get(&info.id)
                    .is_some_and(|at| (now - *at).num_seconds() < 1);
                if !recent {
                    self.used.insert(info.id, now);
                }
                Ok(principal.clone())
            }
            _ => Err(super::invalid_credential()),
        }
    }

    /// Forgets what was read of key `id` (revoked through this server: it stops at once).
    pub fn forget(&self, id: i64) {
        self.entries
            .retain(|_, c| c.info.as_ref().is_none_or(|i| i.0.id != id));
    }
}
