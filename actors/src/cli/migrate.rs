//! `flowgate migrate status|plan|up|down`: the migration history, the plan, applying and
//! rolling back, on the database the options name.

use super::args::{MigrateAction, SourceArgs};
use super::output;
use flowgate::migrate::{self, MigrateOptions, Outcome};
use flowgate::registry::Registry;
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

pub(crate) async fn migrate_cmd(
    action: MigrateAction,
    args: SourceArgs,
    format: output::Format,
) -> anyhow::Result<ExitCode> {
    let config = args.supervisor().resolve_config()?;
    let mut declared = Vec::new();
    for path in config.models.iter().chain(&args.models) {
        declared.extend(flowgate::model::read_schema_file(path)?);
    }
    let store = SourceArgs::connect(&config).await?;
    let registry = Registry::open(&store).await?;
    let opts = MigrateOptions {
        lock_timeout: Duration::from_secs(config.migration_lock_timeout),
        ..MigrateOptions::default()
    };
    let out = match action {
        MigrateAction::Status => json!({ "migrations": registry.history(None).await? }),
        MigrateAction::Plan => {
            let plans = migrate::plan_all(&store, &registry, &declared).await?;
            json!({ "plans": plans })
        }
        MigrateAction::Up { allow_destructive } => {
            let opts = MigrateOptions {
                allow_destructive,
                ..opts
            };
            let spinner = output::spinner(format!("migrating {} declared models", declared.len()));
            let report = migrate::migrate(&store, &registry, &declared, &opts).await;
            spinner.finish_and_clear();
            let report = report?;
            let failed = report
                .outcomes
                .iter()
                .any(|(_, o)| matches!(o, Outcome::Failed(_)));
            let outcomes: Vec<_> = report
                .outcomes
                .iter()
                .map(|(name, o)| outcome_json(name, o))
                .collect();
            output::print(&json!({ "models": outcomes }), format);
            store.close().await;
            return Ok(if failed {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            });
        }
        MigrateAction::Down { model } => {
            let rolled = migrate::rollback_last(&store, &registry, model.as_deref(), &opts).await?;
            json!({ "rolled_back": rolled })
        }
    };
    output::print(&out, format);
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

fn outcome_json(name: &str, o: &Outcome) -> serde_json::Value {
    match o {
        Outcome::UpToDate { version } => {
            json!({"model": name, "status": "up_to_date", "version": version})
        }
        Outcome::Migrated { from, to, changes } => {
            json!({"model": name, "status": "migrated", "from": from, "to": to, "changes": changes})
        }
        Outcome::Failed(reason) => json!({"model": name, "status": "failed", "reason": reason}),
    }
}
