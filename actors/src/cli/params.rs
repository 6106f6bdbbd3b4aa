//! A data command's flags turned into the operation's JSON params: `--data` first, the typed
//! field flags and the options over it; the same params `POST /nodes/{Model}{Op}Node` and the
//! MCP tool take.

use super::input::read_input;
use super::model_commands::op_command_name;
use super::output::Failure;
use clap::ArgMatches;
use flowgate::{ModelInfo, OpKind};
use serde_json::{Map, Value, json};

fn object(v: Option<Value>, what: &str) -> Result<Map<String, Value>, Failure> {
    match v {
        None => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(Failure::usage(format!("--data of {what} is a JSON object"))),
    }
}

fn set_fields(target: &mut Map<String, Value>, m: &ModelInfo, am: &ArgMatches) {
    for c in &m.columns {
        let id = format!("field:{}", c.name());
        if let Ok(Some(v)) = am.try_get_one::<Value>(&id) {
            target.insert(c.name().to_string(), v.clone());
        }
    }
}

fn set_flag(p: &mut Map<String, Value>, am: &ArgMatches, arg: &str, key: &str) {
    if let Ok(Some(true)) = am.try_get_one::<bool>(arg).map(|v| v.copied()) {
        p.insert(key.into(), Value::Bool(true));
    }
}

fn set_json(p: &mut Map<String, Value>, am: &ArgMatches, arg: &str, key: &str) {
    if let Ok(Some(v)) = am.try_get_one::<Value>(arg) {
        p.insert(key.into(), v.clone());
    }
}

fn set_u64(p: &mut Map<String, Value>, am: &ArgMatches, arg: &str, key: &str) {
    if let Ok(Some(v)) = am.try_get_one::<u64>(arg) {
        p.insert(key.into(), json!(v));
    }
}

fn set_list(p: &mut Map<String, Value>, am: &ArgMatches, arg: &str, key: &str, one_as_text: bool) {
    if let Ok(Some(values)) = am.try_get_many::<String>(arg) {
        let values: Vec<Value> = values.map(|s| json!(s.trim())).collect();
        let v = if one_as_text && values.len() == 1 {
            values[0].clone()
        } else {
            Value::Array(values)
        };
        p.insert(key.into(), v);
    }
}

/// The operation's params from the flags: `--data` first, the flags over it.
pub(crate) fn params(m: &ModelInfo, op: OpKind, am: &ArgMatches) -> Result<Value, Failure> {
    use OpKind::*;
    let data = match am.try_get_one::<String>("data") {
        Ok(Some(text)) => Some(read_input(text, Some(m))?),
        _ => None,
    };
    let what = op_command_name(op);
    let id = am.try_get_one::<Value>("id").ok().flatten().cloned();
    let mut p = match (op, data) {
        (BulkCreate | BulkUpsert, Some(Value::Array(records))) => {
            let mut p = Map::new();
            p.insert("data".into(), Value::Array(records));
            p
        }
        (Update, Some(Value::Object(o))) if !o.contains_key("fields") && !o.contains_key("id") => {
            let mut p = Map::new();
            p.insert("fields".into(), Value::Object(o));
            p
        }
        (_, data) => object(data, &what)?,
    };
    if let Some(id) = id {
        p.insert("id".into(), id);
    }
    match op {
        Create => set_fields(&mut p, m, am),
        Read | Delete | Count | List => {}
        Update | BulkUpdate => {
            // Field flags join `fields` of --data. Without either, no `fields` param is sent, so
            // the operation says it is required, as it does on every channel.
            let (mut fields, given) = match p.remove("fields") {
                Some(Value::Object(f)) => (f, true),
                Some(other) => {
                    p.insert("fields".into(), other);
                    (Map::new(), false)
                }
                None => (Map::new(), false),
            };
            set_fields(&mut fields, m, am);
            if given || !fields.is_empty() {
                p.insert("fields".into(), Value::Object(fields));
            }
        }
        Upsert => {
            set_json(&mut p, am, "where", "where");
            set_json(&mut p, am, "create", "create");
            set_json(&mut p, am, "update", "update");
            set_list(&mut p, am, "conflict-on", "conflict_on", false);
            let mut given = Map::new();
            set_fields(&mut given, m, am);
            if !given.is_empty() {
                for key in ["create", "update"] {
                    let entry = p
                        .entry(key.to_string())
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Some(obj) = entry.as_object_mut() {
                        obj.extend(given.clone());
                    }
                }
            }
        }
        BulkCreate | BulkUpsert | BulkDelete => {}
    }
    set_json(&mut p, am, "filter", "filter");
    set_list(&mut p, am, "order-by", "order_by", true);
    set_u64(&mut p, am, "limit", "limit");
    set_u64(&mut p, am, "offset", "offset");
    if let Ok(Some(c)) = am.try_get_one::<String>("cursor") {
        p.insert("cursor".into(), json!(c));
    }
    set_flag(&mut p, am, "count", "count");
    set_list(&mut p, am, "fields", "fields", false);
    set_flag(&mut p, am, "include-deleted", "include_deleted");
    set_list(&mut p, am, "expand", "expand", false);
    set_u64(&mut p, am, "expand-limit", "expand_limit");
    if let Ok(Some(v)) = am.try_get_one::<String>("on-conflict") {
        p.insert("on_conflict".into(), json!(v));
    }
    if let Ok(Some(v)) = am.try_get_one::<bool>("atomic") {
        p.insert("atomic".into(), json!(v));
    }
    if op != Upsert {
        set_list(&mut p, am, "conflict-on", "conflict_on", false);
    }
    set_flag(&mut p, am, "confirm-all", "confirm_all");
    set_u64(&mut p, am, "max-affected", "max_affected");
    set_flag(&mut p, am, "dry-run", "dry_run");
    Ok(Value::Object(p))
}
