//! The start-up sequence, the one both the server's registry actor and the command line's local
//! mode run: connect (retrying with backoff while the database cannot be reached), open the
//! registry, take the migration lock, migrate or check the declared models (or, without model
//! persistence, create their tables). Each step is reported to a [`Progress`]: the server's
//! readiness board, or the board the CLI's `status` prints.
//!
//! The sequence is resumable: [`Startup::run`] stops with [`Interrupted::Retry`] when waiting may
//! help (the database cannot be reached yet, the lock is taken) and picks up where it stopped when
//! called again, so an actor can wait on its own timer and keep answering its mailbox;
//! [`Startup::run_to_end`] waits itself, for callers without one.

use crate::error::{Error, Result};
use crate::migrate::{self, MigrateOptions, Outcome, Report};
use crate::model::{ModelDef, Schema};
use crate::registry::{PersistedModel, Registry};
use crate::store::{Store, StoreConfig};
use std::borrow::Cow;
use std::time::Duration;

/// A step of start-up, as it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// Connecting to the database.
    Database,
    /// Opening the registry (its tables).
    Registry,
    /// Migrating (or checking) the models.
    Migrations,
    /// Creating the audit table (`flowgate_audit`), when writes are audited.
    Audit,
    /// One model.
    Model(&'a str),
}

impl Step<'_> {
    /// The name of the readiness feature the step is: `database`, `registry`, `migrations`,
    /// `model:<Name>`.
    pub fn feature(&self) -> Cow<'static, str> {
        match self {
            Step::Database => "database".into(),
            Step::Registry => "registry".into(),
            Step::Migrations => "migrations".into(),
            Step::Audit => "audit".into(),
            Step::Model(name) => format!("model:{name}").into(),
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not started, or waiting for something that is not part of start-up (a model waiting for
    /// its node, or for a migration `status` does not apply); the reason, when there is one.
    Pending(Option<String>),
    /// Under way (the detail says what it waits for, e.g. a retry).
    Starting(Option<String>),
    /// Done.
    Ready,
    /// Failed, for this reason.
    Failed(String),
}

/// Where the sequence reports its steps.
pub trait Progress: Sync {
    /// `step` is now in `phase`.
    fn report(&self, step: Step<'_>, phase: Phase);

    /// Many steps at once (every model's): by default one [`Progress::report`] each.
    fn report_all(&self, steps: Vec<(Step<'_>, Phase)>) {
        for (step, phase) in steps {
            self.report(step, phase);
        }
    }
}

/// Reports nowhere.
impl Progress for () {
    fn report(&self, _: Step<'_>, _: Phase) {}
}

/// How connecting (and any step waiting may cure) is retried: after 50 ms, doubling each time,
/// up to `max_backoff`; at most `max_attempts` times (`None`: until it works).
#[derive(Debug, Clone)]
pub struct Retry {
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How many retries [`Startup::run_to_end`] makes before it gives up (`None`: no end).
    pub max_attempts: Option<u32>,
}

impl Retry {
    /// The wait before retry number `attempt` (counting from 1).
    pub fn wait(&self, attempt: u32) -> Duration {
        let max = u64::try_from(self.max_backoff.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(50u64.saturating_mul(1 << attempt.min(10)).min(max.max(50)))
    }
}

/// What the sequence does with the declared models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Models {
    /// Bring the database up to them: migrate with model persistence (`auto_migrate`), create
    /// their tables without.
    Migrate,
    /// Change nothing (`auto_migrate = false`): a model whose persisted definition differs fails
    /// with the changes it waits for. Without model persistence, tables are still created.
    Check,
    /// Write and create nothing at all, not even a database file or the registry's tables: what
    /// `flowgate status` shows. A model that would need a migration is pending.
    Inspect,
}

/// What the sequence runs with.
#[derive(Debug, Clone)]
pub struct StartupConfig {
    /// The database and its pool. In [`Models::Inspect`] a SQLite file is never created.
    pub store: StoreConfig,
    /// How connecting is retried.
    pub retry: Retry,
    /// Whether models are persisted in the registry (and migrated) or only created.
    pub persistence: bool,
    /// What is done with the declared models.
    pub models: Models,
    /// The lock timeout, owner and whether destructive changes are allowed.
    pub migrate: MigrateOptions,
}

/// Why [`Startup::run`] stopped before the end.
#[derive(Debug)]
pub enum Interrupted {
    /// Waiting may cure it: run again after `after`. The step was reported starting, with the
    /// retry and the reason.
    Retry {
        /// The step that waits.
        step: Step<'static>,
        /// How long to wait.
        after: Duration,
        /// What went wrong.
        error: Error,
    },
    /// It failed for good; the step was reported failed.
    Failed(Error),
}

impl Interrupted {
    /// The error, whatever the kind.
    pub fn into_error(self) -> Error {
        match self {
            Interrupted::Retry { error, .. } | Interrupted::Failed(error) => error,
        }
    }
}

/// The sequence on one database. It keeps what it reached (the connection pool, the registry), so
/// that running it again (after a retry, or for a model added at run time) starts from there.
pub struct Startup {
    config: StartupConfig,
    store: Option<Store>,
    registry: Option<Registry>,
    /// Read, in [`Models::Inspect`], instead of taking the lock (none without a registry).
    persisted: Vec<PersistedModel>,
    attempt: u32,
    /// Whether the audit table was created (when writes are audited).
    audit_ready: bool,
}

impl Startup {
    /// The sequence, not started.
    pub fn new(mut config: StartupConfig) -> Startup {
        if config.models == Models::Inspect {
            config.store.create_if_missing = false;
        }
        Startup {
            config,
            store: None,
            registry: None,
            persisted: Vec::new(),
            attempt: 0,
            audit_ready: false,
        }
    }

    /// What it runs with.
    pub fn config(&self) -> &StartupConfig {
        &self.config
    }

    /// The store, once connected.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The registry, once open (never without model persistence, nor in [`Models::Inspect`] on a
    /// database without its tables).
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    /// Runs the whole sequence (from where it stopped before): connects, opens the registry,
    /// migrates. Reports each step; gives each model's outcome and the models to serve.
    pub async fn run(
        &mut self,
        declared: &[ModelDef],
        progress: &dyn Progress,
    ) -> std::result::Result<Report, Interrupted> {
        self.connect(progress).await?;
        self.load(declared, progress).await
    }

    /// [`Startup::run`], waiting between retries as [`Retry`] says; once the retries are spent,
    /// the step that waited is reported failed.
    pub async fn run_to_end(
        &mut self,
        declared: &[ModelDef],
        progress: &dyn Progress,
    ) -> Result<Report> {
        loop {
            match self.run(declared, progress).await {
                Ok(report) => return Ok(report),
                Err(Interrupted::Retry { step, after, error }) => {
                    if self
                        .config
                        .retry
                        .max_attempts
                        .is_some_and(|max| self.attempt > max)
                    {
                        progress.report(step, Phase::Failed(error.public_message()));
                        return Err(error);
                    }
                    tokio::time::sleep(after).await;
                }
                Err(Interrupted::Failed(e)) => return Err(e),
            }
        }
    }

    /// Connects (once connected, gives the same store). A failure that waiting may cure is a
    /// retry; any other (a URL that does not parse) is final.
    pub async fn connect(
        &mut self,
        progress: &dyn Progress,
    ) -> std::result::Result<Store, Interrupted> {
        if let Some(store) = &self.store {
            return Ok(store.clone());
        }
        progress.report(Step::Database, Phase::Starting(None));
        match Store::connect(&self.config.store, Schema::default()).await {
            Ok(store) => {
                self.attempt = 0;
                self.store = Some(store.clone());
                progress.report(Step::Database, Phase::Ready);
                Ok(store)
            }
            Err(e @ Error::Unavailable(_)) => Err(self.retry(Step::Database, e, progress, true)),
            Err(e) => {
                progress.report(Step::Database, Phase::Failed(e.public_message()));
                Err(Interrupted::Failed(e))
            }
        }
    }

    fn retry(
        &mut self,
        step: Step<'static>,
        error: Error,
        progress: &dyn Progress,
        count: bool,
    ) -> Interrupted {
        self.attempt += 1;
        let after = self.config.retry.wait(self.attempt);
        let reason = match &error {
            Error::Unavailable(r) => r.clone(),
            e => e.public_message(),
        };
        let detail = if count {
            format!(
                "retrying in {} ms (attempt {}): {reason}",
                after.as_millis(),
                self.attempt
            )
        } else {
            format!("retrying in {} ms: {reason}", after.as_millis())
        };
        progress.report(step, Phase::Starting(Some(detail)));
        Interrupted::Retry { step, after, error }
    }

    /// Opens the registry (with model persistence), then migrates, checks or inspects the
    /// declared models as configured (the store serves the models that come out able to), reporting the `registry` and `migrations` steps and every
    /// model that fails (or, when inspecting, waits for a migration). A model that can serve is
    /// left pending, and `migrations` starting: the caller reports them ready once it serves them
    /// (the server: once their nodes run). [`Models::Inspect`], after which nothing more
    /// happens, reports them ready itself.
    pub async fn load(
        &mut self,
        declared: &[ModelDef],
        progress: &dyn Progress,
    ) -> std::result::Result<Report, Interrupted> {
        let store = self.connect(progress).await?;
        let mut declared = declared.to_vec();
        crate::model::resolve_tenancy(&mut declared, self.config.store.multi_tenant);
        // The audit table comes before any model serves: an audited write needs it.
        if store.is_audited() && self.config.models != Models::Inspect && !self.audit_ready {
            progress.report(Step::Audit, Phase::Starting(None));
            match store.create_audit_table().await {
                Ok(()) => {
                    self.audit_ready = true;
                    progress.report(Step::Audit, Phase::Ready);
                }
                Err(e @ Error::Unavailable(_)) => {
                    return Err(self.retry(Step::Audit, e, progress, false));
                }
                Err(e) => {
                    progress.report(Step::Audit, Phase::Failed(e.public_message()));
                    return Err(Interrupted::Failed(e));
                }
            }
        }
        let report = match self.migrate(&store, &declared, progress).await {
            Ok(report) => report,
            Err(e @ Error::Unavailable(_)) => {
                return Err(self.retry(Step::Migrations, e, progress, false));
            }
            Err(e) => {
                progress.report(Step::Migrations, Phase::Failed(e.public_message()));
                return Err(Interrupted::Failed(e));
            }
        };
        self.attempt = 0;
        store.set_schema(report.schema.clone());
        let inspect = self.config.models == Models::Inspect;
        let steps = report
            .outcomes
            .iter()
            .map(|(name, outcome)| {
                let phase = match outcome {
                    Outcome::Failed(reason) if inspect && reason.starts_with(migrate::PENDING) => {
                        Phase::Pending(Some(reason.clone()))
                    }
                    Outcome::Failed(reason) => Phase::Failed(reason.clone()),
                    _ if inspect => Phase::Ready,
                    _ => Phase::Pending(None),
                };
                (Step::Model(name), phase)
            })
            .collect();
        progress.report_all(steps);
        if inspect {
            let pending = report
                .outcomes
                .iter()
                .any(|(_, o)| matches!(o, Outcome::Failed(r) if r.starts_with(migrate::PENDING)));
            progress.report(
                Step::Migrations,
                if pending {
                    Phase::Pending(Some("run `flowgate migrate up`".into()))
                } else {
                    Phase::Ready
                },
            );
        }
        Ok(report)
    }

    async fn migrate(
        &mut self,
        store: &Store,
        declared: &[ModelDef],
        progress: &dyn Progress,
    ) -> Result<Report> {
        let models = self.config.models;
        if !self.config.persistence {
            if models != Models::Inspect {
                progress.report(Step::Migrations, Phase::Starting(None));
            }
            return match models {
                Models::Inspect => Ok(migrate::declared_only(declared)),
                Models::Migrate | Models::Check => migrate::create_only(store, declared).await,
            };
        }
        if self.registry.is_none() {
            if models != Models::Inspect {
                progress.report(Step::Registry, Phase::Starting(None));
            }
            let opened = match models {
                Models::Inspect => Registry::existing(store).await,
                Models::Migrate | Models::Check => Registry::open(store).await.map(Some),
            };
            match opened {
                Ok(Some(registry)) => {
                    if models == Models::Inspect {
                        self.persisted = registry.load().await?;
                    }
                    self.registry = Some(registry);
                    progress.report(Step::Registry, Phase::Ready);
                }
                Ok(None) => progress.report(
                    Step::Registry,
                    Phase::Pending(Some(
                        "not created yet: the first migration creates it".into(),
                    )),
                ),
                Err(e) => {
                    progress.report(Step::Registry, Phase::Failed(e.public_message()));
                    return Err(e);
                }
            }
        }
        if models != Models::Inspect {
            progress.report(Step::Migrations, Phase::Starting(None));
        }
        match (models, &self.registry) {
            (Models::Inspect, _) => {
                migrate::check_against(store.dialect(), &self.persisted, declared)
            }
            (Models::Migrate, Some(registry)) => {
                migrate::migrate(store, registry, declared, &self.config.migrate).await
            }
            (Models::Check, Some(registry)) => migrate::check(store, registry, declared).await,
            (_, None) => Err(Error::internal("the registry is not open")),
        }
    }

    /// The models persisted in the registry, as [`Models::Inspect`] read them (empty in other
    /// modes, and without a registry).
    pub fn persisted(&self) -> &[PersistedModel] {
        &self.persisted
    }
}
