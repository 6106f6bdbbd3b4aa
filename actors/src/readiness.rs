//! The readiness board: every feature of the server with its state and when it got there.
//!
//! Features start `pending`, go `starting`, and end `ready`, `degraded(reason)` or
//! `failed(reason)`. `/health/ready` is 200 when every required feature is ready (or degraded);
//! waiters (requests for a model that is not ready yet) are woken on every change.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The state of one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not started yet.
    Pending,
    /// Coming up (the detail says what it is doing, e.g. a retry).
    Starting(Option<String>),
    /// Serving.
    Ready,
    /// Serving, with a problem.
    Degraded(String),
    /// Not serving, for this reason.
    Failed(String),
}

impl State {
    /// The state's name on the board.
    pub fn name(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Starting(_) => "starting",
            State::Ready => "ready",
            State::Degraded(_) => "degraded",
            State::Failed(_) => "failed",
        }
    }

    /// Whether the feature serves.
    pub fn is_up(&self) -> bool {
        matches!(self, State::Ready | State::Degraded(_))
    }

    /// Whether the feature will not change by itself (up or failed).
    pub fn is_settled(&self) -> bool {
        matches!(self, State::Ready | State::Degraded(_) | State::Failed(_))
    }

    /// What the state says besides its name (a retry, a reason).
    pub fn detail(&self) -> Option<&str> {
        match self {
            State::Starting(d) => d.as_deref(),
            State::Degraded(r) | State::Failed(r) => Some(r),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Feature {
    state: State,
    required: bool,
    since: DateTime<Utc>,
}

/// The board. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Board {
    features: Arc<RwLock<BTreeMap<String, Feature>>>,
    changed: Arc<watch::Sender<u64>>,
    started: DateTime<Utc>,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board {
            features: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
            started: Utc::now(),
        }
    }

    /// Adds a feature in `pending` (or leaves it as it is when already there).
    pub fn register(&self, name: &str, required: bool) {
        let mut map = self.features.write().expect("board lock");
        map.entry(name.to_string()).or_insert(Feature {
            state: State::Pending,
            required,
            since: Utc::now(),
        });
        drop(map);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Sets a feature's state (adding it as required when new).
    pub fn set(&self, name: &str, state: State) {
        let mut map = self.features.write().expect("board lock");
        let entry = map.entry(name.to_string()).or_insert(Feature {
            state: State::Pending,
            required: true,
            since: Utc::now(),
        });
        if entry.state != state {
            tracing::info!(
                feature = name,
                state = state.name(),
                detail = state.detail().unwrap_or(""),
                "readiness"
            );
            entry.state = state;
            entry.since = Utc::now();
        }
        drop(map);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Removes a feature (a model that went away).
    pub fn remove(&self, name: &str) {
        self.features.write().expect("board lock").remove(name);
        self.changed.send_modify(|n| *n += 1);
    }

    /// A feature's state.
    pub fn state(&self, name: &str) -> Option<State> {
        self.features
            .read()
            .expect("board lock")
            .get(name)
            .map(|f| f.state.clone())
    }

    /// Every feature with its state, in name order.
    pub fn features(&self) -> Vec<(String, State)> {
        self.features
            .read()
            .expect("board lock")
            .iter()
            .map(|(name, f)| (name.clone(), f.state.clone()))
            .collect()
    }

    /// Whether every required feature serves.
    pub fn is_ready(&self) -> bool {
        self.features
            .read()
            .expect("board lock")
            .values()
            .filter(|f| f.required)
            .all(|f| f.state.is_up())
    }

    /// The board as JSON: `{ready, started_at, features: {name: {state, since, reason?, required}}}`.
    pub fn to_json(&self) -> Value {
        let map = self.features.read().expect("board lock");
        let mut features = Map::new();
        for (name, f) in map.iter() {
            let mut obj = json!({
                "state": f.state.name(),
                "since": f.since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "required": f.required,
            });
            if let Some(d) = f.state.detail() {
                obj["reason"] = json!(d);
            }
            features.insert(name.clone(), obj);
        }
        drop(map);
        json!({
            "ready": self.is_ready(),
            "started_at": self.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "features": features,
        })
    }

    /// A receiver that changes whenever any feature does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Waits until `name` settles (up or failed) or `timeout` passes; gives its state then.
    pub async fn wait_for(&self, name: &str, timeout: Duration) -> Option<State> {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let state = self.state(name);
            if state.as_ref().is_some_and(State::is_settled) {
                return state;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.state(name);
            }
        }
    }

    /// Waits until every required feature serves, or `timeout` passes; gives whether it did.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.is_ready() {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.is_ready();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_when_every_required_feature_is_up() {
        let board = Board::new();
        board.register("http", true);
        board.register("cache", false);
        assert!(!board.is_ready());
        board.set("http", State::Ready);
        assert!(
            board.is_ready(),
            "optional features do not hold readiness back"
        );
        board.set("model:User", State::Failed("refused".into()));
        assert!(!board.is_ready());
        assert_eq!(
            board.to_json()["features"]["model:User"]["reason"],
            "refused"
        );
    }

    #[tokio::test]
    async fn waiters_wake_on_change() {
        let board = Board::new();
        board.register("model:User", true);
        let b = board.clone();
        let waiter =
            tokio::spawn(async move { b.wait_for("model:User", Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        board.set("model:User", State::Ready);
        assert_eq!(waiter.await.unwrap(), Some(State::Ready));
        assert_eq!(
            board.wait_for("model:User", Duration::from_millis(1)).await,
            Some(State::Ready)
        );
    }
}
