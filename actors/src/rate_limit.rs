//! Rate limits (`[rate_limit]`, DESIGN 13.3): GCRA per caller, with a default quota and
//! overrides per MCP tool name, node name or `workflow:<name>`.
//!
//! A caller is its principal's id (`key:<id>`, `jwt:<sub>`, `local:<role>`), or `ip:<address>`
//! when anonymous. A request is counted against one bucket: the override named by the
//! operation if there is one (which replaces the default for it), else the default.
//!
//! Two backends:
//! - `memory` (default): [`governor`]'s keyed GCRA in this process; idle buckets are dropped
//!   every minute.
//! - `redis`: the same algorithm as one Lua script per check on Redis's own clock (`TIME`), so
//!   every instance on the same Redis shares each bucket. The connection is made lazily and
//!   re-made when it breaks; while Redis cannot be reached a check fails closed (503
//!   `unavailable`), and the `rate_limit` feature on the readiness board says why.

use flowgate::Error;
use governor::middleware::StateInformationMiddleware;
use governor::{Quota as GovQuota, clock::Clock};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// `[rate_limit]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// The quota of every caller for every operation without an override, like
    /// `"50/s burst 100"`; no default limit when unset.
    pub default: Option<String>,
    /// `memory` (this process) or `redis` (shared by every instance on `redis_url`).
    pub backend: String,
    /// The Redis server of the `redis` backend (`redis://[:password@]host:port[/db]`).
    pub redis_url: Option<String>,
    /// What every Redis key starts with (default `flowgate:`), so that several deployments or
    /// test runs can share one Redis.
    pub key_prefix: Option<String>,
    /// Quotas by MCP tool name (`books_bulk_delete`), node name (`BookBulkDeleteNode`) or
    /// `workflow:<name>`.
    pub overrides: BTreeMap<String, String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            default: None,
            backend: "memory".to_string(),
            redis_url: None,
            key_prefix: None,
            overrides: BTreeMap::new(),
        }
    }
}

/// A parsed quota: `burst` requests at once, then one every `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The time it takes to earn one request back.
    pub period: Duration,
    /// How many requests may come at once.
    pub burst: u32,
}

/// Parses `"<n>/<unit>"` or `"<n>/<unit> burst <m>"`; the unit is `s`, `m`, `h` or `d` (or
/// `second`, `minute`, `hour`, `day`), optionally with a count (`100/10s`). Without `burst`, the
/// burst is `n`. The error says what is wrong.
pub fn parse_quota(text: &str) -> Result<Quota, String> {
    let bad = |why: &str| {
        format!("{text:?} is not a rate limit ({why}); write it like \"50/s burst 100\"")
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let (rate, burst) = match words.as_slice() {
        [rate] => (*rate, None),
        [rate, "burst", b] => (*rate, Some(*b)),
        _ => {
            return Err(bad(
                "expected \"<count>/<unit>\", then optionally \"burst <count>\"",
            ));
        }
    };
    let (count, unit) = rate
        .split_once('/')
        .ok_or_else(|| bad("no '/' between the count and the unit"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| bad("the count must be a whole number above zero"))?;
    let digits = unit.bytes().take_while(u8::is_ascii_digit).count();
    let (times, unit) = unit.split_at(digits);
    let times: u64 = if times.is_empty() {
        1
    } else {
        times
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad("the unit's count must be above zero"))?
    };
    let secs: u64 = match unit {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(bad("the unit must be s, m, h or d")),
    };
    let window = Duration::from_secs(secs * times);
    let burst = match burst {
        None => count,
        Some(b) => b
            .parse()
            .ok()
            .filter(|&n: &u32| n > 0)
            .ok_or_else(|| bad("the burst must be a whole number above zero"))?,
    };
    let period = window / count;
    if period.is_zero() {
        return Err(bad("more than one request per nanosecond"));
    }
    Ok(Quota { period, burst })
}

/// The answer of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The bucket's burst (0 when no limit applies).
    pub limit: u32,
    /// The requests left in the bucket after this one.
    pub remaining: u32,
    /// Milliseconds until the whole burst is available again.
    pub reset_ms: u64,
    /// When refused, milliseconds until one request would be let through.
    pub retry_after_ms: u64,
}

impl Decision {
    fn unlimited() -> Decision {
        Decision {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_ms: 0,
            retry_after_ms: 0,
        }
    }
}

/// One configured quota: its name (`default` or the override's) and where it is counted.
/// A keyed in-memory GCRA that tells how much of the burst is left.
type Memory = governor::DefaultKeyedRateLimiter<String, StateInformationMiddleware>;

struct Bucket {
    name: String,
    quota: Quota,
    memory: Option<Memory>,
}

struct Redis {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
}

struct Inner {
    default: Option<Bucket>,
    overrides: Vec<Bucket>,
    redis: Option<Redis>,
}

/// The rate limiter of a server. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("default", &self.inner.default.as_ref().map(|b| b.quota))
            .field("overrides", &self.inner.overrides.len())
            .field("redis", &self.inner.redis.is_some())
            .finish()
    }
}

/// GCRA on Redis's clock, in microseconds. KEYS[1] is the bucket; ARGV are the period and the
/// burst. The bucket holds the theoretical arrival time (TAT) and expires when it is full again.
/// Answers {allowed, remaining, retry_after_us, reset_us}.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tolerance = period * (burst - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then
  return {0, 0, tat - now - tolerance, tat - now}
end
local new_tat = tat + period
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
local remaining = math.floor((now + tolerance - new_tat) / period) + 1
return {1, remaining, 0, new_tat - now}
"#;

fn memory_limiter(q: Quota) -> Result<Memory, String> {
    let burst = NonZeroU32::new(q.burst).ok_or("a burst of zero")?;
    let quota = GovQuota::with_period(q.period)
        .ok_or("a period of zero")?
        .allow_burst(burst);
    Ok(governor::RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
}

impl RateLimiter {
    /// The limiter of `config`, or why the configuration is wrong (naming the key). Connects to
    /// nothing: the Redis backend connects on first use.
    pub async fn new(config: &RateLimitConfig) -> Result<RateLimiter, String> {
        let redis = match (config.backend.as_str(), &config.redis_url) {
            ("memory", None) => None,
            ("memory", Some(_)) => {
                return Err(
                    "rate_limit.redis_url is set but rate_limit.backend is \"memory\": set backend = \"redis\" to use it"
                        .to_string(),
                );
            }
            ("redis", None) => {
                return Err("rate_limit.backend = \"redis\" needs rate_limit.redis_url".to_string());
            }
            ("redis", Some(url)) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| {
                    // The URL may hold a password: say what is wrong, not what was given.
                    format!("rate_limit.redis_url is not a Redis URL ({})", describe(&e))
                })?;
                let settings = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, settings)
                    .map_err(|e| {
                        format!("rate_limit.redis_url cannot be used ({})", describe(&e))
                    })?;
                Some(Redis {
                    conn,
                    prefix: config
                        .key_prefix
                        .clone()
                        .unwrap_or_else(|| "flowgate:".to_string()),
                    script: redis::Script::new(GCRA),
                })
            }
            (other, _) => {
                return Err(format!(
                    "rate_limit.backend is {other:?}: it must be \"memory\" or \"redis\""
                ));
            }
        };
        let memory = redis.is_none();
        let bucket = |name: &str, text: &str, key: String| -> Result<Bucket, String> {
            let quota = parse_quota(text).map_err(|e| format!("{key}: {e}"))?;
            Ok(Bucket {
                name: name.to_string(),
                quota,
                memory: if memory {
                    Some(memory_limiter(quota)?)
                } else {
                    None
                },
            })
        };
        let default = match &config.default {
            None => None,
            Some(text) => Some(bucket("default", text, "rate_limit.default".into())?),
        };
        let mut overrides = Vec::new();
        for (name, text) in &config.overrides {
            if name.is_empty() || name == "default" {
                return Err(format!(
                    "rate_limit.overrides: {name:?} is not an MCP tool name, a node name or workflow:<name>"
                ));
            }
            overrides.push(bucket(name, text, format!("rate_limit.overrides.{name}"))?);
        }
        let inner = Arc::new(Inner {
            default,
            overrides,
            redis,
        });
        if memory && (inner.default.is_some() || !inner.overrides.is_empty()) {
            sweep_idle(Arc::downgrade(&inner));
        }
        Ok(RateLimiter { inner })
    }

    /// Whether any limit is configured (a default or an override).
    pub fn is_active(&self) -> bool {
        self.inner.default.is_some() || !self.inner.overrides.is_empty()
    }

    /// Whether any override is configured (callers then pass the operation's names).
    pub fn has_overrides(&self) -> bool {
        !self.inner.overrides.is_empty()
    }

    /// Counts one request of `who` for the operation known by `names` (its MCP tool name, node
    /// name or `workflow:<name>`): against the first override naming it, else the default.
    /// Err only when the Redis backend cannot be reached (503 `unavailable`, failing closed).
    pub async fn check(&self, who: &str, names: &[&str]) -> Result<Decision, Error> {
        let inner = &self.inner;
        let bucket = names
            .iter()
            .find_map(|n| inner.overrides.iter().find(|b| b.name == *n))
            .or(inner.default.as_ref());
        let Some(bucket) = bucket else {
            return Ok(Decision::unlimited());
        };
        match (&bucket.memory, &inner.redis) {
            (Some(limiter), _) => Ok(check_memory(limiter, bucket.quota, who)),
            (None, Some(redis)) => check_redis(redis, bucket, who).await,
            (None, None) => Ok(Decision::unlimited()),
        }
    }

    /// Whether the limiter's store answers: at once in memory; a `PING` on Redis. The error
    /// says why, never the URL.
    pub async fn ping(&self) -> Result<(), String> {
        let Some(redis) = &self.inner.redis else {
            return Ok(());
        };
        let mut conn = redis.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot reach Redis ({})", describe(&e)))
    }
}

fn check_memory(limiter: &Memory, quota: Quota, who: &str) -> Decision {
    use governor::clock::DefaultClock;
    let key = who.to_string();
    let period_ms = |n: u32| (quota.period * n).as_millis() as u64;
    match limiter.check_key(&key) {
        Ok(snapshot) => {
            let remaining = snapshot.remaining_burst_capacity();
            Decision {
                allowed: true,
                limit: quota.burst,
                remaining,
                reset_ms: period_ms(quota.burst - remaining),
                retry_after_ms: 0,
            }
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Decision {
                allowed: false,
                limit: quota.burst,
                remaining: 0,
                reset_ms: period_ms(quota.burst.saturating_sub(1)) + wait.as_millis() as u64,
                retry_after_ms: (wait.as_millis() as u64).max(1),
            }
        }
    }
}

async fn check_redis(redis: &Redis, bucket: &Bucket, who: &str) -> Result<Decision, Error> {
    let key = format!("{}rl:{}:{}", redis.prefix, bucket.name, who);
    let period_us = bucket.quota.period.as_micros().max(1) as u64;
    let mut conn = redis.conn.clone();
    let answer: Result<(i64, i64, i64, i64), _> = redis
        .script
        .key(&key)
        .arg(period_us)
        .arg(bucket.quota.burst)
        .invoke_async(&mut conn)
        .await;
    match answer {
        Ok((allowed, remaining, retry_us, reset_us)) => Ok(Decision {
            allowed: allowed == 1,
            limit: bucket.quota.burst,
            remaining: remaining.max(0) as u32,
            reset_ms: (reset_us.max(0) as u64).div_ceil(1000),
            retry_after_ms: (retry_us.max(0) as u64).div_ceil(1000),
        }),
        Err(e) => {
            tracing::warn!(error = %describe(&e), "rate limit check failed: Redis cannot be reached");
            Err(Error::Unavailable(
                "the rate limit store cannot be reached".to_string(),
            ))
        }
    }
}

/// A Redis error in words that never include a URL or password.
fn describe(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connection_refusal() {
        "connection refused".to_string()
    } else if e.is_io_error() || e.is_connection_dropped() {
        "connection lost".to_string()
    } else {
        format!("{:?}", e.kind())
    }
}

/// Drops the in-memory buckets that are full again (their callers idle), every minute, while
/// the limiter lives.
fn sweep_idle(inner: std::sync::Weak<Inner>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            for b in inner.default.iter().chain(&inner.overrides) {
                if let Some(m) = &b.memory {
                    m.retain_recent();
                    m.shrink_to_fit();
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas() {
        let q = parse_quota("50/s burst 100").unwrap();
        assert_eq!(q.period, Duration::from_millis(20));
        assert_eq!(q.burst, 100);
        let q = parse_quota("1/s").unwrap();
        assert_eq!((q.period, q.burst), (Duration::from_secs(1), 1));
        let q = parse_quota("100/10s").unwrap();
        assert_eq!((q.period, q.burst), (Duration::from_millis(100), 100));
        let q = parse_quota("3/minute burst 1").unwrap();
        assert_eq!((q.period, q.burst), (Duration::from_secs(20), 1));
        for bad in [
            "",
            "50",
            "0/s",
            "5/y",
            "5/s burst",
            "5/s burst 0",
            "5/s bursts 3",
            "x/s",
        ] {
            assert!(parse_quota(bad).is_err(), "{bad}");
        }
        assert!(parse_quota("5/y").unwrap_err().contains("s, m, h or d"));
    }

    #[tokio::test]
    async fn config_errors_name_the_key() {
        let cfg = |f: &dyn Fn(&mut RateLimitConfig)| {
            let mut c = RateLimitConfig::default();
            f(&mut c);
            c
        };
        let e = RateLimiter::new(&cfg(&|c| c.default = Some("lots".into())))
            .await
            .unwrap_err();
        assert!(e.starts_with("rate_limit.default: "), "{e}");
        let e = RateLimiter::new(&cfg(&|c| c.backend = "disk".into()))
            .await
            .unwrap_err();
        assert!(e.contains("rate_limit.backend"), "{e}");
        let e = RateLimiter::new(&cfg(&|c| c.backend = "redis".into()))
            .await
            .unwrap_err();
        assert!(e.contains("redis_url"), "{e}");
        let e = RateLimiter::new(&cfg(&|c| {
            c.overrides.insert("books_bulk_delete".into(), "1/q".into());
        }))
        .await
        .unwrap_err();
        assert!(
            e.starts_with("rate_limit.overrides.books_bulk_delete: "),
            "{e}"
        );
        let e = RateLimiter::new(&cfg(&|c| {
            c.backend = "redis".into();
            c.redis_url = Some("http://user:hunter2@example".into());
        }))
        .await
        .unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let off = RateLimiter::new(&RateLimitConfig::default()).await.unwrap();
        assert!(!off.is_active());
        assert!(off.check("ip:127.0.0.1", &[]).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn memory_burst_then_refusal_per_caller_and_override() {
        let mut c = RateLimitConfig {
            default: Some("1/h burst 3".into()),
            ..Default::default()
        };
        c.overrides.insert("books_bulk_delete".into(), "1/h".into());
        let l = RateLimiter::new(&c).await.unwrap();
        assert!(l.is_active() && l.has_overrides());
        let remaining: Vec<u32> = futures_remaining(&l, "key:1", &["books_read"], 3).await;
        assert_eq!(remaining, [2, 1, 0]);
        let d = l.check("key:1", &["books_read"]).await.unwrap();
        assert!(!d.allowed);
        assert_eq!(d.limit, 3);
        assert!(d.retry_after_ms > 3_500_000, "{d:?}");
        // Another caller has its own bucket; an override its own quota.
        assert!(l.check("key:2", &["books_read"]).await.unwrap().allowed);
        assert!(
            l.check("key:1", &["books_bulk_delete"])
                .await
                .unwrap()
                .allowed
        );
        let d = l.check("key:1", &["books_bulk_delete"]).await.unwrap();
        assert!(!d.allowed && d.limit == 1);
    }

    async fn futures_remaining(l: &RateLimiter, who: &str, names: &[&str], n: usize) -> Vec<u32> {
        let mut out = Vec::new();
        for _ in 0..n {
            let d = l.check(who, names).await.unwrap();
            assert!(d.allowed);
            out.push(d.remaining);
        }
        out
    }
}
