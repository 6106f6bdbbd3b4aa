//! The readiness board: every feature of the server with its state and when it got there.
//!
//! Features start `pending`, go `starting`, and end `ready`, `degraded(reason)` or
//! `failed(reason)`. `/health/ready` is 200 when every required feature is ready (or degraded);
//! waiters (requests for a model that is not ready yet) are woken on every change.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
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

/// A feature on the board: the parts of the server that come up on their own, each model and
/// each workflow. Its name on the board (and in `/health/ready`) is its `Display`:
/// `http`, `database`, `model:User`, `workflow:signup`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The configuration (shown failed by the CLI's local `status` when it cannot be read).
    Config,
    /// The REST port.
    Http,
    /// The MCP port.
    Mcp,
    /// The database connection.
    Database,
    /// The model registry (persisted models).
    Registry,
    /// Loading the persisted models and migrating the declared ones.
    Migrations,
    /// Reading the `discover` directories.
    Discover,
    /// Opening the run store and serving the workflows.
    Workflows,
    /// Authentication: the API key table opened (JWT and the roles need nothing to come up).
    Auth,
    /// The rate limiter's store reachable (at once in memory; Redis answering).
    RateLimit,
    /// The audit table created (when `audit_log` is on); models serve only after it.
    Audit,
    /// A model, by name.
    Model(String),
    /// A workflow, by name.
    Workflow(String),
}

impl Feature {
    /// A model's feature.
    pub fn model(name: impl Into<String>) -> Feature {
        Feature::Model(name.into())
    }

    /// A workflow's feature.
    pub fn workflow(name: impl Into<String>) -> Feature {
        Feature::Workflow(name.into())
    }

    /// The feature a board name stands for (`model:User`), if any.
    pub fn parse(name: &str) -> Option<Feature> {
        Some(match name {
            "config" => Feature::Config,
            "http" => Feature::Http,
            "mcp" => Feature::Mcp,
            "database" => Feature::Database,
            "registry" => Feature::Registry,
            "migrations" => Feature::Migrations,
            "discover" => Feature::Discover,
            "workflows" => Feature::Workflows,
            "auth" => Feature::Auth,
            "rate_limit" => Feature::RateLimit,
            "audit" => Feature::Audit,
            _ => match name.split_once(':')? {
                ("model", m) if !m.is_empty() => Feature::Model(m.into()),
                ("workflow", w) if !w.is_empty() => Feature::Workflow(w.into()),
                _ => return None,
            },
        })
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Feature::Config => "config",
            Feature::Http => "http",
            Feature::Mcp => "mcp",
            Feature::Database => "database",
            Feature::Registry => "registry",
            Feature::Migrations => "migrations",
            Feature::Discover => "discover",
            Feature::Workflows => "workflows",
            Feature::Auth => "auth",
            Feature::RateLimit => "rate_limit",
            Feature::Audit => "audit",
            Feature::Model(m) => return write!(f, "model:{m}"),
            Feature::Workflow(w) => return write!(f, "workflow:{w}"),
        })
    }
}

/// What a waiter makes of one look at the board (see [`Board::wait_for`]).
#[derive(Debug)]
pub enum Look<T, E> {
    /// Done: this is the answer.
    Ready(T),
    /// Done: this is the error.
    Fail(E),
    /// Not yet; if time runs out now, this is the error.
    Wait(E),
}

#[derive(Debug, Clone)]
struct Entry {
    feature: Feature,
    state: State,
    required: bool,
    /// When it got to its state, as the board shows it (formatted once, on the change).
    since: String,
}

impl Entry {
    /// Whether it holds readiness back.
    fn holds_back(&self) -> bool {
        self.required && !self.state.is_up()
    }
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The features, with what `/health/ready` asks on every poll kept up to date as they change:
/// whether the board is ready is a count, not a walk over ten thousand models.
#[derive(Debug, Default)]
struct Features {
    /// By name on the board, so that `/health/ready` lists features in name order.
    by_name: BTreeMap<String, Entry>,
    /// How many required features are not up.
    holding_back: usize,
    /// Counts every change.
    version: u64,
}

impl Features {
    /// Puts `entry` under `name`, keeping the count.
    fn put(&mut self, name: String, entry: Entry) {
        if entry.holds_back() {
            self.holding_back += 1;
        }
        if let Some(old) = self.by_name.insert(name, entry)
            && old.holds_back()
        {
            self.holding_back -= 1;
        }
        self.version += 1;
    }
}

/// The board as JSON text, as of a version of the board.
#[derive(Debug)]
struct Rendered {
    version: u64,
    ready: bool,
    body: Bytes,
}

/// The board. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Board {
    features: Arc<RwLock<Features>>,
    /// The last JSON text `/health/ready` served: polled every few milliseconds while start-up
    /// reports thousands of models, the board is written out again only once it has changed.
    rendered: Arc<Mutex<Option<Rendered>>>,
    changed: Arc<watch::Sender<u64>>,
    started: DateTime<Utc>,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    /// Tries `attempt` in a task of its own until it succeeds, waiting 100 ms, then twice as
    /// long each time up to 5 s: `feature` is failed (with the reason) after each failure and
    /// ready once it succeeds.
    pub fn retry_until_ready<F, Fut>(&self, feature: Feature, mut attempt: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send,
    {
        let board = self.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(100);
            loop {
                match attempt().await {
                    Ok(()) => {
                        board.set(&feature, State::Ready);
                        return;
                    }
                    Err(reason) => board.set(&feature, State::Failed(reason)),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// An empty board.
    pub fn new() -> Board {
        Board {
            features: Arc::default(),
            rendered: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
            started: Utc::now(),
        }
    }

    /// Adds a feature in `pending` (or leaves it as it is when already there).
    pub fn register(&self, feature: &Feature, required: bool) {
        self.register_all([feature], required);
    }

    /// Sets a feature's state (adding it as required when new).
    pub fn set(&self, feature: &Feature, state: State) {
        self.set_all([(feature, state)]);
    }

    /// Sets the state of many features in one change of the board (start-up reports thousands
    /// of models: waiters wake, and `/health/ready` writes the board out, once rather than once
    /// per model).
    pub fn set_all<'a>(&self, changes: impl IntoIterator<Item = (&'a Feature, State)>) {
        let mut map = self.features.write().expect("board lock");
        for (feature, state) in changes {
            Self::set_locked(&mut map, feature, state);
        }
        drop(map);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Adds many features in `pending` (leaving those already there as they are), in one change
    /// of the board.
    pub fn register_all<'a>(
        &self,
        features: impl IntoIterator<Item = &'a Feature>,
        required: bool,
    ) {
        let mut map = self.features.write().expect("board lock");
        for feature in features {
            let name = feature.to_string();
            if !map.by_name.contains_key(&name) {
                map.put(
                    name,
                    Entry {
                        feature: feature.clone(),
                        state: State::Pending,
                        required,
                        since: timestamp(Utc::now()),
                    },
                );
            }
        }
        drop(map);
        self.changed.send_modify(|n| *n += 1);
    }

    fn set_locked(map: &mut Features, feature: &Feature, state: State) {
        let name = feature.to_string();
        let required = match map.by_name.get(&name) {
            Some(entry) if entry.state == state => None,
            Some(entry) => Some(entry.required),
            None => Some(true),
        };
        if let Some(required) = required {
            tracing::info!(
                feature = %feature,
                state = state.name(),
                detail = state.detail().unwrap_or(""),
                "readiness"
            );
            map.put(
                name,
                Entry {
                    feature: feature.clone(),
                    state,
                    required,
                    since: timestamp(Utc::now()),
                },
            );
        }
    }

    /// Removes a feature (a model that went away).
    pub fn remove(&self, feature: &Feature) {
        let mut map = self.features.write().expect("board lock");
        if let Some(old) = map.by_name.remove(&feature.to_string()) {
            if old.holds_back() {
                map.holding_back -= 1;
            }
            map.version += 1;
        }
        drop(map);
        self.changed.send_modify(|n| *n += 1);
    }

    /// A feature's state.
    pub fn state(&self, feature: &Feature) -> Option<State> {
        self.state_by_name(&feature.to_string())
    }

    /// A feature's state, by its name on the board (`model:User`).
    pub fn state_by_name(&self, name: &str) -> Option<State> {
        self.features
            .read()
            .expect("board lock")
            .by_name
            .get(name)
            .map(|f| f.state.clone())
    }

    /// Every feature with its state, in name order.
    pub fn features(&self) -> Vec<(Feature, State)> {
        self.features
            .read()
            .expect("board lock")
            .by_name
            .values()
            .map(|f| (f.feature.clone(), f.state.clone()))
            .collect()
    }

    /// Whether every required feature serves.
    pub fn is_ready(&self) -> bool {
        self.features.read().expect("board lock").holding_back == 0
    }

    /// The board as JSON: `{ready, started_at, features: {name: {state, since, reason?, required}}}`.
    pub fn to_json(&self) -> Value {
        let map = self.features.read().expect("board lock");
        self.json_of(&map)
    }

    fn json_of(&self, map: &Features) -> Value {
        let mut features = Map::new();
        for (name, f) in map.by_name.iter() {
            let mut obj = Map::new();
            obj.insert("state".into(), Value::from(f.state.name()));
            obj.insert("since".into(), Value::from(f.since.as_str()));
            obj.insert("required".into(), Value::from(f.required));
            if let Some(d) = f.state.detail() {
                obj.insert("reason".into(), Value::from(d));
            }
            features.insert(name.clone(), Value::Object(obj));
        }
        json!({
            "ready": map.holding_back == 0,
            "started_at": timestamp(self.started),
            "features": features,
        })
    }

    /// Whether the board is ready, and [`Board::to_json`] as JSON text: what `/health/ready`
    /// answers. Written out again only when the board has changed since the last call.
    pub fn ready_body(&self) -> (bool, Bytes) {
        let map = self.features.read().expect("board lock");
        let mut rendered = self.rendered.lock().expect("board rendering lock");
        if let Some(r) = rendered.as_ref().filter(|r| r.version == map.version) {
            return (r.ready, r.body.clone());
        }
        let ready = map.holding_back == 0;
        let body = Bytes::from(self.json_of(&map).to_string());
        *rendered = Some(Rendered {
            version: map.version,
            ready,
            body: body.clone(),
        });
        (ready, body)
    }

    /// A receiver that changes whenever any feature does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The one wait on the board: looks (`look`) now and after every change of the board until
    /// the look is done ([`Look::Ready`] or [`Look::Fail`]) or `deadline` (if any) passes, when
    /// the last look's [`Look::Wait`] error is the answer. Every wait for something to come up
    /// (a request for a model, a workflow or the run store, MCP lists waiting for the board to
    /// settle, `serve` watching for a server that can serve nothing) waits here.
    pub async fn wait_for<T, E>(
        &self,
        deadline: impl Into<Option<tokio::time::Instant>>,
        mut look: impl FnMut(&Board) -> Look<T, E>,
    ) -> Result<T, E> {
        let deadline = deadline.into();
        // Subscribed before the first look, so that no change between a look and the wait is
        // missed.
        let mut changes = self.subscribe();
        loop {
            match look(self) {
                Look::Ready(t) => return Ok(t),
                Look::Fail(e) => return Err(e),
                Look::Wait(e) => {
                    let changed = match deadline {
                        Some(deadline) => tokio::time::timeout_at(deadline, changes.changed())
                            .await
                            .ok(),
                        None => Some(changes.changed().await),
                    };
                    // The sender lives as long as the board, so `changed` fails only when the
                    // deadline has passed.
                    if !matches!(changed, Some(Ok(()))) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Waits until `feature` settles (up or failed) or `timeout` passes; gives its state then.
    pub async fn wait_settled(&self, feature: &Feature, timeout: Duration) -> Option<State> {
        let deadline = tokio::time::Instant::now() + timeout;
        let settled = self
            .wait_for(deadline, |board| match board.state(feature) {
                Some(s) if s.is_settled() => Look::Ready(s),
                _ => Look::Wait(()),
            })
            .await;
        settled.ok().or_else(|| self.state(feature))
    }

    /// Waits until every required feature serves, or `timeout` passes; gives whether it did.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        self.wait_for(deadline, |board| match board.is_ready() {
            true => Look::Ready(()),
            false => Look::Wait(()),
        })
        .await
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_when_every_required_feature_is_up() {
        let board = Board::new();
        board.register(&Feature::Http, true);
        board.register(&Feature::Mcp, false);
        assert!(!board.is_ready());
        board.set(&Feature::Http, State::Ready);
        assert!(
            board.is_ready(),
            "optional features do not hold readiness back"
        );
        board.set(&Feature::model("User"), State::Failed("refused".into()));
        assert!(!board.is_ready());
        assert_eq!(
            board.to_json()["features"]["model:User"]["reason"],
            "refused"
        );
    }

    #[tokio::test]
    async fn waiters_wake_on_change() {
        let board = Board::new();
        let user = Feature::model("User");
        board.register(&user, true);
        let (b, u) = (board.clone(), user.clone());
        let waiter = tokio::spawn(async move { b.wait_settled(&u, Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        board.set(&user, State::Ready);
        assert_eq!(waiter.await.unwrap(), Some(State::Ready));
        assert_eq!(
            board.wait_settled(&user, Duration::from_millis(1)).await,
            Some(State::Ready)
        );
    }

    #[test]
    fn feature_names_round_trip() {
        for f in [
            Feature::Config,
            Feature::Http,
            Feature::Mcp,
            Feature::Database,
            Feature::Registry,
            Feature::Migrations,
            Feature::Discover,
            Feature::Workflows,
            Feature::model("User"),
            Feature::workflow("signup"),
        ] {
            assert_eq!(Feature::parse(&f.to_string()), Some(f));
        }
        assert_eq!(Feature::parse("model:"), None);
        assert_eq!(Feature::parse("cache"), None);
    }

    #[tokio::test]
    async fn a_wait_gives_the_last_looks_error_when_time_runs_out() {
        let board = Board::new();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        let mut looks = 0;
        let r: Result<(), &str> = board
            .wait_for(deadline, |_| {
                looks += 1;
                Look::Wait("not yet")
            })
            .await;
        assert_eq!(r, Err("not yet"));
        assert_eq!(looks, 1, "nothing changed, so nothing looked again");
    }
}
