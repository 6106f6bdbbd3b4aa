//! `flowgate keys create|list|revoke`: API keys on the database the options name (DESIGN
//! 13.1). Whoever can reach the database can manage its keys; through a running server,
//! `/admin/keys` does the same for callers with `admin:keys`.

use super::args::{KeysAction, OutputArgs, SourceArgs};
use super::output;
use crate::auth::Policy;
use flowgate::keys::{ApiKeys, KeyInfo, NewKey};
use flowgate::{Error, Store};
use serde_json::{Value, json};
use std::process::ExitCode;

pub(crate) async fn keys_cmd(
    action: KeysAction,
    args: SourceArgs,
    out: OutputArgs,
) -> anyhow::Result<ExitCode> {
    let config = args.supervisor().resolve_config()?;
    let store = SourceArgs::connect(&config).await?;
    let result = run(action, &store, &config, out).await;
    store.close().await;
    result
}

async fn run(
    action: KeysAction,
    store: &Store,
    config: &crate::config::Config,
    out: OutputArgs,
) -> anyhow::Result<ExitCode> {
    match action {
        KeysAction::Create {
            name,
            roles,
            tenant,
            expires_in,
        } => {
            // The roles a server on this configuration knows; a typo would make a key that
            // can do nothing.
            let policy = Policy::new(&config.auth.roles, false).map_err(anyhow::Error::msg)?;
            if let Some(role) = roles.iter().find(|r| !policy.knows(r)) {
                return Err(Error::validation(
                    "role",
                    format!("unknown role `{role}` (admin, reader, or one of [auth.roles])"),
                )
                .into());
            }
            let expires_in = match expires_in {
                Some(text) => Some(flowgate::keys::parse_duration(&text)?),
                None => None,
            };
            let keys = ApiKeys::open(store).await?;
            let (info, secret) = keys
                .create(NewKey {
                    name,
                    roles,
                    tenant,
                    expires_in,
                })
                .await?;
            if out.explicit() && out.format() == output::Format::Json {
                let mut obj = info.to_json();
                obj["key"] = Value::String(secret);
                output::print(&obj, output::Format::Json);
            } else {
                // The key alone on stdout, for `KEY=$(flowgate keys create ...)`; the rest for
                // the person at the terminal.
                output::line(&secret);
                eprintln!(
                    "created key {} (id {}, roles {}{}{}); it is shown this once",
                    info.name,
                    info.id,
                    info.roles.join(", "),
                    info.tenant
                        .as_deref()
                        .map(|t| format!(", tenant {t}"))
                        .unwrap_or_default(),
                    info.expires_at
                        .map(|at| format!(", expires {}", flowgate::value::format_datetime(&at)))
                        .unwrap_or_default(),
                );
            }
        }
        KeysAction::List => {
            let list = match ApiKeys::existing(store).await? {
                Some(keys) => keys.list().await?,
                None => Vec::new(),
            };
            let keys: Vec<Value> = list.iter().map(KeyInfo::to_json).collect();
            output::print(&json!({ "keys": keys }), out.format());
        }
        KeysAction::Revoke { key } => {
            let Some(keys) = ApiKeys::existing(store).await? else {
                return Err(Error::not_found(flowgate::Missing::Record("key".into()), key).into());
            };
            let info = keys.revoke(&key).await?;
            output::print(&info.to_json(), out.format());
        }
    }
    Ok(ExitCode::SUCCESS)
}
