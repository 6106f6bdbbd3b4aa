//! The registry: every model any application registered on a database, persisted in Flowgate's
//! own tables (`flowgate_models`, `flowgate_model_versions`), plus the migration history
//! (`flowgate_migrations`) and, on SQLite, the migration lock row (`flowgate_locks`).
//!
//! These tables are ordinary models of an internal schema, read and written through the same
//! operations as application models, on the application's pool.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::model::{self, FieldDef, IdType, ModelDef, Schema};
use crate::operation::OpKind;
use crate::sql;
use crate::store::{Lease, Store, Transaction};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// A model as the registry holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedModel {
    /// The definition.
    pub def: ModelDef,
    /// Its version, counting from 1.
    pub version: i64,
    /// The checksum of its canonical JSON form.
    pub checksum: String,
}

/// The checksum of a definition: SHA-256 of its canonical JSON form, in hex.
pub fn checksum(def: &ModelDef) -> String {
    let text = model::to_json(std::slice::from_ref(def)).to_string();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The canonical JSON text of a definition. Kept as text, not a JSON column: PostgreSQL's JSONB
/// reorders object keys, and field order is column order.
fn definition_json(def: &ModelDef) -> Value {
    Value::String(model::to_json(std::slice::from_ref(def)).to_string())
}

fn definition_from(value: &Value, name: &str) -> Result<ModelDef> {
    let text = value.as_str().ok_or_else(|| {
        Error::internal(format!("the registry's definition of {name} is not text"))
    })?;
    model::parse_json(text, "flowgate_models")?
        .into_iter()
        .find(|d| d.name == name)
        .ok_or_else(|| Error::internal(format!("the registry's definition of {name} is empty")))
}

fn internal_models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("FlowgateModel")
            .table("flowgate_models")
            .id(IdType::String)
            .field(FieldDef::integer("version"))
            .field(FieldDef::string("checksum").max_length(64))
            .field(FieldDef::text("definition")),
        ModelDef::new("FlowgateModelVersion")
            .table("flowgate_model_versions")
            .field(FieldDef::string("model").max_length(64))
            .field(FieldDef::integer("version"))
            .field(FieldDef::string("checksum").max_length(64))
            .field(FieldDef::text("definition"))
            .unique_together(["model", "version"]),
        ModelDef::new("FlowgateMigration")
            .table("flowgate_migrations")
            .field(FieldDef::string("model").max_length(64).indexed())
            .field(FieldDef::integer("from_version").optional())
            .field(FieldDef::integer("to_version"))
            .field(FieldDef::string("checksum").max_length(64))
            .field(FieldDef::json("up_sql"))
            .field(FieldDef::json("down_sql"))
            .field(FieldDef::json("changes"))
            .field(FieldDef::enumeration(
                "status",
                ["applied", "rolled_back", "failed"],
            ))
            .field(FieldDef::datetime("applied_at"))
            .field(FieldDef::integer("duration_ms"))
            .field(FieldDef::text("error").optional()),
        ModelDef::new("FlowgateLock")
            .table("flowgate_locks")
            .id(IdType::String)
            .field(FieldDef::string("owner").max_length(64))
            .field(FieldDef::datetime("expires_at")),
    ]
}

/// A migration applied, as [`Registry::record_applied`] records it.
#[derive(Debug, Clone)]
pub struct Applied<'a> {
    /// The model's new definition.
    pub def: &'a ModelDef,
    /// Its new version.
    pub version: i64,
    /// The checksum of the definition.
    pub checksum: String,
    /// The migration record (`flowgate_migrations`' fields).
    pub migration: Value,
}

/// The registry of one database.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
}

/// The migration lock, held until [`MigrationLock::release`] (or dropped: a PostgreSQL or MySQL
/// lock ends with its connection; a SQLite lock row expires).
pub struct MigrationLock {
    held: Held,
}

enum Held {
    Session(Lease),
    Row { registry: Registry, owner: String },
}

impl Registry {
    /// The registry on `app`'s database; creates its tables if they are missing.
    pub async fn open(app: &Store) -> Result<Registry> {
        let schema = Schema::internal(internal_models()).expect("internal models are valid");
        let store = app.sibling(schema);
        store.create_tables().await?;
        Ok(Registry { store })
    }

    /// The registry on `app`'s database when its tables exist; creates nothing (`flowgate
    /// status` reads the registry this way).
    pub async fn existing(app: &Store) -> Result<Option<Registry>> {
        let stmt = sql::alter::table_exists(app.dialect(), "flowgate_models");
        if app.lease().await?.scalar(&stmt).await? == 0 {
            return Ok(None);
        }
        let schema = Schema::internal(internal_models()).expect("internal models are valid");
        Ok(Some(Registry {
            store: app.sibling(schema),
        }))
    }

    async fn op(&self, model: &str, kind: OpKind, params: Value) -> Result<Value> {
        let m = self.store.model(model)?;
        self.store
            .run(&Context::internal(), &m, kind, &params)
            .await
    }

    /// Every persisted model.
    pub async fn load(&self) -> Result<Vec<PersistedModel>> {
        let mut out = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let mut params = json!({"limit": 1000});
            if let Some(c) = &cursor {
                params["cursor"] = c.clone();
            }
            let page = self.op("FlowgateModel", OpKind::List, params).await?;
            for rec in page["records"].as_array().into_iter().flatten() {
                let name = rec["id"].as_str().unwrap_or_default();
                out.push(PersistedModel {
                    def: definition_from(&rec["definition"], name)?,
                    version: rec["version"].as_i64().unwrap_or(1),
                    checksum: rec["checksum"].as_str().unwrap_or_default().to_string(),
                });
            }
            match page.get("next_cursor") {
                Some(c) => cursor = Some(c.clone()),
                None => return Ok(out),
            }
        }
    }

    /// Records `def` as `version` of its model (and in the version history).
    pub async fn record(&self, def: &ModelDef, version: i64) -> Result<()> {
        let sum = checksum(def);
        let definition = definition_json(def);
        self.op(
            "FlowgateModelVersion",
            OpKind::BulkUpsert,
            json!({"data": [{"model": def.name, "version": version, "checksum": sum, "definition": definition}], "conflict_on": ["model", "version"]}),
        )
        .await?;
        self.op(
            "FlowgateModel",
            OpKind::Upsert,
            json!({"where": {"id": def.name}, "create": {"version": version, "checksum": sum, "definition": definition},
                   "update": {"version": version, "checksum": sum, "definition": definition}}),
        )
        .await
        .map(|_| ())
    }

    /// Records, inside `tx`, migrations applied in it: each model's new version (and its row of
    /// the version history) and the migration record, in three bulk writes whatever the number
    /// of models, so that a start creating a thousand models writes the registry in three
    /// statements rather than three thousand transactions.
    pub async fn record_applied(
        &self,
        tx: &mut Transaction,
        applied: &[Applied<'_>],
    ) -> Result<()> {
        if applied.is_empty() {
            return Ok(());
        }
        let ctx = Context::internal();
        let mut versions = Vec::with_capacity(applied.len());
        let mut models = Vec::with_capacity(applied.len());
        let mut migrations = Vec::with_capacity(applied.len());
        for a in applied {
            let definition = definition_json(a.def);
            versions.push(json!({"model": a.def.name, "version": a.version, "checksum": a.checksum, "definition": definition}));
            models.push(json!({"id": a.def.name, "version": a.version, "checksum": a.checksum, "definition": definition}));
            migrations.push(a.migration.clone());
        }
        let m = self.store.model("FlowgateModelVersion")?;
        tx.run(
            &ctx,
            &m,
            OpKind::BulkUpsert,
            &json!({"data": versions, "conflict_on": ["model", "version"]}),
        )
        .await?;
        let m = self.store.model("FlowgateModel")?;
        tx.run(&ctx, &m, OpKind::BulkUpsert, &json!({"data": models}))
            .await?;
        let m = self.store.model("FlowgateMigration")?;
        tx.run(&ctx, &m, OpKind::BulkCreate, &json!({"data": migrations}))
            .await?;
        Ok(())
    }

    /// A model's definition at a version, from the history.
    pub async fn version(&self, name: &str, version: i64) -> Result<Option<ModelDef>> {
        let page = self
            .op(
                "FlowgateModelVersion",
                OpKind::List,
                json!({"filter": {"model": name, "version": version}, "limit": 1}),
            )
            .await?;
        match page["records"].get(0) {
            Some(rec) => definition_from(&rec["definition"], name).map(Some),
            None => Ok(None),
        }
    }

    /// Removes a model from the registry (the rollback of its creation).
    pub async fn forget(&self, name: &str) -> Result<()> {
        self.op("FlowgateModel", OpKind::Delete, json!({"id": name}))
            .await
            .map(|_| ())
    }

    /// Appends a migration to the history; returns its id.
    pub async fn record_migration(&self, record: Value) -> Result<i64> {
        let rec = self.op("FlowgateMigration", OpKind::Create, record).await?;
        Ok(rec["id"].as_i64().unwrap_or_default())
    }

    /// Marks a migration rolled back.
    pub async fn mark_rolled_back(&self, id: i64) -> Result<()> {
        self.op(
            "FlowgateMigration",
            OpKind::Update,
            json!({"id": id, "fields": {"status": "rolled_back"}}),
        )
        .await
        .map(|_| ())
    }

    /// The migration history, oldest first, optionally for one model.
    pub async fn history(&self, model: Option<&str>) -> Result<Vec<Value>> {
        let filter = match model {
            Some(m) => json!({"model": m}),
            None => json!({}),
        };
        let mut out = Vec::new();
        let mut cursor: Option<Value> = None;
        loop {
            let mut params = json!({"filter": filter, "order_by": "id", "limit": 1000});
            if let Some(c) = &cursor {
                params["cursor"] = c.clone();
            }
            let page = self.op("FlowgateMigration", OpKind::List, params).await?;
            out.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page.get("next_cursor") {
                Some(c) => cursor = Some(c.clone()),
                None => return Ok(out),
            }
        }
    }

    /// Takes the database-wide migration lock, waiting up to `timeout`: a PostgreSQL advisory
    /// lock, MySQL `GET_LOCK`, or on SQLite a lock row that expires after `timeout` should its
    /// holder die.
    pub async fn lock(&self, owner: &str, timeout: Duration) -> Result<MigrationLock> {
        let started = Instant::now();
        let d = self.store.dialect();
        if let Some(stmt) = sql::alter::try_lock(d, 1) {
            let mut lease = self.store.lease().await?;
            loop {
                if lease.scalar(&stmt).await? == 1 {
                    return Ok(MigrationLock {
                        held: Held::Session(lease),
                    });
                }
                if started.elapsed() >= timeout {
                    return Err(timed_out(timeout));
                }
                if d == crate::sql::Dialect::Postgres {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        loop {
            let now = crate::value::now();
            let expires = now
                + chrono::Duration::from_std(timeout.max(Duration::from_secs(30)))
                    .unwrap_or(chrono::Duration::seconds(60));
            let expires = crate::value::format_datetime(&expires);
            let created = self
                .op(
                    "FlowgateLock",
                    OpKind::Create,
                    json!({"id": "migrations", "owner": owner, "expires_at": expires}),
                )
                .await;
            match created {
                Ok(_) => {
                    return Ok(MigrationLock {
                        held: Held::Row {
                            registry: self.clone(),
                            owner: owner.to_string(),
                        },
                    });
                }
                Err(Error::Conflict { .. }) => {
                    let stale = json!({"id": "migrations", "expires_at": {"$lt": crate::value::format_datetime(&now)}});
                    let taken = self.op("FlowgateLock", OpKind::BulkUpdate, json!({"filter": stale, "fields": {"owner": owner, "expires_at": expires}})).await?;
                    if taken["updated"] == 1 {
                        return Ok(MigrationLock {
                            held: Held::Row {
                                registry: self.clone(),
                                owner: owner.to_string(),
                            },
                        });
                    }
                }
                Err(e) => return Err(e),
            }
            if started.elapsed() >= timeout {
                return Err(timed_out(timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn timed_out(timeout: Duration) -> Error {
    Error::Unavailable(format!(
        "the migration lock was not free within {} ms",
        timeout.as_millis()
    ))
}

impl MigrationLock {
    /// Releases the lock.
    pub async fn release(self) -> Result<()> {
        match self.held {
            Held::Session(mut lease) => {
                if let Some(stmt) = sql::alter::unlock(lease.dialect()) {
                    lease.scalar(&stmt).await?;
                }
                Ok(())
            }
            Held::Row { registry, owner } => registry
                .op(
                    "FlowgateLock",
                    OpKind::BulkDelete,
                    json!({"filter": {"id": "migrations", "owner": owner}}),
                )
                .await
                .map(|_| ()),
        }
    }
}
