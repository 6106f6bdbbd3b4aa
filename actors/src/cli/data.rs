//! Data-plane commands: `flowgate <table> <op>` for every model, built at run time with clap's
//! builder API from the models the database (or the server) serves. Each command turns its
//! flags into the operation's JSON params, the same params `POST /nodes/{Model}{Op}Node` and
//! the MCP tool take, and prints the operation's result.
//!
//! Typed flags: each writable field is a flag (`--title Dune --pages 412`; a field `project_id`
//! is `--project-id`; a field whose flag would clash with an option is `--field-NAME`) whose
//! value is converted to the field's JSON type. `--data` gives the params (or, for bulk-create
//! and bulk-upsert, the records) as JSON, `@file.json`, `@file.csv` or `-` (standard input);
//! flags win over its keys.

use super::client::{Backend, ClientArgs, ModelEntry};
use super::output::{self, Failure, Format};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Args, Command, CommandFactory, FromArgMatches};
use flowgate::model::{Column, FieldDef, FieldType, Role};
use flowgate::{ModelInfo, OpKind};
use serde_json::{Map, Value, json};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Records per request (remote) or per step of the one transaction (local) when a bulk import
/// is larger than this.
pub(crate) const DEFAULT_BATCH: usize = 1000;

/// Option names a field's flag must not take.
const RESERVED: &[&str] = &[
    "server",
    "config",
    "models",
    "discover",
    "database-url",
    "json",
    "table",
    "format",
    "all",
    "help",
    "version",
    "data",
    "filter",
    "order-by",
    "limit",
    "offset",
    "cursor",
    "count",
    "fields",
    "include-deleted",
    "where",
    "create",
    "update",
    "conflict-on",
    "on-conflict",
    "atomic",
    "dry-run",
    "batch-size",
    "confirm-all",
    "max-affected",
];

/// The subcommand of an operation: `bulk-create`.
pub(crate) fn op_command_name(op: OpKind) -> String {
    op.as_str().replace('_', "-")
}

/// The flag of a field: `project_id` is `--project-id`; a clash with an option gives
/// `--field-NAME`.
pub(crate) fn flag_of(field: &str) -> String {
    let kebab = field.replace('_', "-");
    if RESERVED.contains(&kebab.as_str()) {
        format!("field-{kebab}")
    } else {
        kebab
    }
}

/// Converts a flag or CSV text to a field's JSON type: integers, floats, booleans
/// (`true/false/yes/no/1/0`), JSON for json fields; `null` for an optional field that is not
/// text; the rest stays text for the operation to check.
pub(crate) fn convert(f: &FieldDef, text: &str) -> Result<Value, String> {
    let textual = matches!(
        f.ty,
        FieldType::String | FieldType::Text | FieldType::Enum | FieldType::Json
    );
    if f.optional && !textual && text == "null" {
        return Ok(Value::Null);
    }
    match f.ty {
        FieldType::Integer => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, got {text:?}")),
        FieldType::Float => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, got {text:?}")),
        FieldType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "n" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        FieldType::Json => {
            serde_json::from_str(text).map_err(|e| format!("expected JSON, got {text:?}: {e}"))
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

fn value_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String | FieldType::Text => "TEXT",
        FieldType::Integer => "INT",
        FieldType::Float => "NUMBER",
        FieldType::Decimal => "DECIMAL",
        FieldType::Boolean => "BOOL",
        FieldType::Date => "YYYY-MM-DD",
        FieldType::Datetime => "DATETIME",
        FieldType::Uuid => "UUID",
        FieldType::Json => "JSON",
        FieldType::Bytes => "BASE64",
        FieldType::Enum => "VALUE",
    }
}

/// A field's help: its description, then its type and options.
fn field_help(f: &FieldDef, creating: bool) -> String {
    let mut facts = vec![f.ty.as_str().to_string()];
    if let Some(n) = f.length_limit() {
        facts.push(format!("at most {n} characters"));
    }
    if creating && !f.optional && f.default.is_none() {
        facts.push("required".into());
    }
    if f.optional {
        facts.push("optional".into());
    }
    if let Some(d) = &f.default {
        facts.push(format!("default {d}"));
    }
    if f.unique {
        facts.push("unique".into());
    }
    if let Some(r) = &f.references {
        facts.push(format!("references {r}"));
    }
    match &f.description {
        Some(d) => format!("{} [{}]", d.trim_end_matches('.'), facts.join(", ")),
        None => format!("[{}]", facts.join(", ")),
    }
}

fn field_arg(c: &Column, creating: bool) -> Arg {
    let f = &c.def;
    let arg = Arg::new(format!("field:{}", f.name))
        .long(flag_of(&f.name))
        .value_name(value_name(f.ty))
        .help(field_help(f, creating))
        .help_heading("Fields");
    match f.ty {
        FieldType::Enum => arg.value_parser(
            PossibleValuesParser::new(f.values.iter().map(|v| {
                let v: clap::builder::Str = v.clone().into();
                clap::builder::PossibleValue::new(v)
            }))
            .map(Value::String),
        ),
        FieldType::Integer | FieldType::Float | FieldType::Decimal | FieldType::Json => {
            let def = f.clone();
            arg.allow_negative_numbers(true)
                .value_parser(move |s: &str| convert(&def, s))
        }
        _ => {
            let def = f.clone();
            arg.value_parser(move |s: &str| convert(&def, s))
        }
    }
}

fn json_parser(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON: {e}"))
}

fn json_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name("JSON")
        .allow_hyphen_values(true)
        .value_parser(json_parser)
        .help(help)
}

fn flag(name: &'static str, help: String) -> Arg {
    Arg::new(name)
        .long(name)
        .action(ArgAction::SetTrue)
        .help(help)
}

fn list_arg(name: &'static str, value: &'static str, help: &'static str) -> Arg {
    Arg::new(name)
        .long(name)
        .value_name(value)
        .action(ArgAction::Append)
        .value_delimiter(',')
        .allow_hyphen_values(true)
        .help(help)
}

const FILTER_HELP: &str = "A filter: {\"field\": value} tests equality, {\"field\": {\"$op\": value}} applies $eq $ne $gt $gte $lt $lte $in $nin $like $ilike $contains $startswith $regex $null; $and/$or take lists, $not a filter";

fn writable_fields(m: &ModelInfo, with_id: bool) -> impl Iterator<Item = &Column> {
    m.columns
        .iter()
        .filter(move |c| c.role == Role::Field || (with_id && c.role == Role::Id && !m.auto_id()))
}

fn id_arg(m: &ModelInfo) -> Arg {
    let id = m.id().def.clone();
    Arg::new("id")
        .value_name("ID")
        .help(format!("The {}'s id ({})", m.name(), id.ty))
        .allow_negative_numbers(true)
        .value_parser(move |s: &str| convert(&id, s))
}

fn op_command(m: &ModelInfo, op: OpKind) -> Command {
    use OpKind::*;
    let name = m.name();
    let a_name = flowgate::model::with_article(name);
    let about = match op {
        Create => format!("Create {a_name}; prints it with its id and managed fields"),
        Read => format!("Read {a_name} by id"),
        Update => format!("Change fields of {a_name} by id; prints the updated record"),
        Delete if m.soft_delete() => format!("Delete {a_name} by id (a tombstone is kept)"),
        Delete => format!("Delete {a_name} by id"),
        List => format!("List {name} records: filter, order, page"),
        Count => format!("Count the {name} records a filter matches"),
        Upsert => format!("Create or update one {name} found by unique values (--where)"),
        BulkCreate => {
            format!("Insert many {name} records from --data (a JSON list, @file.json or @file.csv)")
        }
        BulkUpdate => format!("Change every {name} that --filter matches"),
        BulkDelete => format!("Delete every {name} that --filter matches"),
        BulkUpsert => format!("Create or update many {name} records by a unique key"),
    };
    let data_help = match op {
        Create => "The record as JSON, @FILE.json, or - for standard input; field flags win over its keys".to_string(),
        BulkCreate | BulkUpsert => "The records: a JSON list, @FILE.json, @FILE.csv (a header row of field names; values typed by the model; an empty cell leaves the field out) or - (JSON on standard input); or the whole params object".to_string(),
        _ => format!(
            "The params as JSON (the body of POST /nodes/{}), @FILE.json or -; flags win over its keys",
            op.node_name(name)
        ),
    };
    let mut cmd = Command::new(op_command_name(op))
        .about(about)
        .after_help(format!(
            "Same params and result as POST /nodes/{} and the MCP tool {}_{}.",
            op.node_name(name),
            m.table,
            op.as_str()
        ))
        .arg(
            Arg::new("data")
                .long("data")
                .value_name("JSON|@FILE")
                .allow_hyphen_values(true)
                .help(data_help),
        );
    let include_deleted = || {
        flag(
            "include-deleted",
            "Include soft-deleted records".to_string(),
        )
    };
    let dry_run = || {
        flag(
            "dry-run",
            "Run in a transaction, report, roll back".to_string(),
        )
    };
    let guards = |cmd: Command| {
        cmd.arg(flag(
            "confirm-all",
            "Required to act on every record when the filter is empty".to_string(),
        ))
        .arg(
            Arg::new("max-affected")
                .long("max-affected")
                .value_name("N")
                .value_parser(clap::value_parser!(u64))
                .help("Abort and roll back when more records would change"),
        )
        .arg(dry_run())
    };
    let fields = |mut cmd: Command, with_id: bool, creating: bool| {
        for c in writable_fields(m, with_id) {
            cmd = cmd.arg(field_arg(c, creating));
        }
        cmd
    };
    let batch = Arg::new("batch-size")
        .long("batch-size")
        .value_name("N")
        .value_parser(clap::value_parser!(usize))
        .help(format!(
            "Records per request (remote) or per step of one transaction (local) in a large import (default {DEFAULT_BATCH}; 0: all at once)"
        ));
    let conflict_on = list_arg(
        "conflict-on",
        "FIELD",
        "A unique field set that identifies records (comma-separated)",
    );
    cmd = match op {
        Create => fields(cmd, true, true),
        Read => {
            cmd = cmd.arg(id_arg(m));
            if m.soft_delete() {
                cmd = cmd.arg(include_deleted());
            }
            cmd
        }
        Update => fields(cmd.arg(id_arg(m)), false, false),
        Delete => cmd.arg(id_arg(m)),
        List | Count => {
            cmd = cmd.arg(json_arg("filter", FILTER_HELP));
            if op == List {
                cmd = cmd
                    .arg(list_arg(
                        "order-by",
                        "FIELD",
                        "Order by fields, `-` first for descending (repeatable or comma-separated)",
                    ))
                    .arg(
                        Arg::new("limit")
                            .long("limit")
                            .value_name("N")
                            .value_parser(clap::value_parser!(u64))
                            .help("Records per page (default 20, at most 1000)"),
                    )
                    .arg(
                        Arg::new("offset")
                            .long("offset")
                            .value_name("N")
                            .value_parser(clap::value_parser!(u64))
                            .help("Records to skip"),
                    )
                    .arg(
                        Arg::new("cursor")
                            .long("cursor")
                            .value_name("CURSOR")
                            .allow_hyphen_values(true)
                            .help("The next_cursor of the previous page"),
                    )
                    .arg(flag(
                        "count",
                        "Also give the total number of matching records".to_string(),
                    ))
                    .arg(flag(
                        "all",
                        "Every matching record: page through them all, following next_cursor \
                         (pages of --limit records, default 1000); CSV is written page by page"
                            .to_string(),
                    ).conflicts_with("cursor"))
                    .arg(list_arg(
                        "fields",
                        "FIELD",
                        "Only these fields (comma-separated)",
                    ));
            }
            if m.soft_delete() {
                cmd = cmd.arg(include_deleted());
            }
            cmd
        }
        Upsert => fields(
            cmd.arg(json_arg(
                "where",
                "The unique values that identify the record, as a JSON object",
            ))
            .arg(json_arg(
                "create",
                "Fields used only when the record is new, as a JSON object",
            ))
            .arg(json_arg(
                "update",
                "Fields changed when the record exists, as a JSON object",
            ))
            .arg(conflict_on)
            .after_help(format!(
                "Field flags set the field both when creating and when updating.\nSame params and result as POST /nodes/{} and the MCP tool {}_upsert.",
                op.node_name(name),
                m.table
            )),
            true,
            false,
        ),
        BulkCreate | BulkUpsert => {
            let choices: &[&str] = if op == BulkCreate {
                &["error", "skip", "update"]
            } else {
                &["update", "skip"]
            };
            cmd = cmd
                .arg(
                    Arg::new("on-conflict")
                        .long("on-conflict")
                        .value_parser(PossibleValuesParser::new(choices.iter().copied()))
                        .help("What a record whose unique key exists does"),
                )
                .arg(conflict_on)
                .arg(dry_run())
                .arg(batch);
            if op == BulkCreate {
                cmd = cmd.arg(
                    Arg::new("atomic")
                        .long("atomic")
                        .value_name("BOOL")
                        .value_parser(clap::value_parser!(bool))
                        .help("All or nothing (default true); false reports failed records in errors"),
                );
            }
            cmd
        }
        BulkUpdate => guards(fields(cmd.arg(json_arg("filter", FILTER_HELP)), false, false)),
        BulkDelete => guards(cmd.arg(json_arg("filter", FILTER_HELP))),
    };
    cmd
}

fn table_command(m: &ModelInfo) -> Command {
    let about = m
        .def
        .description
        .clone()
        .unwrap_or_else(|| format!("The {} records", m.name()));
    let mut cmd = ClientArgs::augment_args(Command::new(m.table.clone()))
        .about(about)
        .subcommand_required(true)
        .arg_required_else_help(true);
    for op in OpKind::ALL {
        cmd = cmd.subcommand(op_command(m, op));
    }
    cmd
}

/// The whole command line: the static commands plus one subcommand per model table. A table
/// named like a static command is left out (its operations stay reachable with `flowgate node`).
pub(crate) fn command(models: &[ModelEntry]) -> Command {
    let mut root = super::Cli::command();
    let statics: Vec<String> = root
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for e in models {
        if statics.contains(&e.info.table) || e.info.table == "help" {
            continue;
        }
        root = root.subcommand(table_command(&e.info));
    }
    root
}

/// Reads `--data` / `--params`: JSON text, `@FILE` (JSON, or CSV when `model` is given and the
/// file ends in `.csv`), or `-` for JSON on standard input.
fn read_input(text: &str, model: Option<&ModelInfo>) -> Result<Value, Failure> {
    if text == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| Failure::usage(format!("cannot read standard input: {e}")))?;
        return serde_json::from_str(&buf)
            .map_err(|e| Failure::usage(format!("standard input is not valid JSON: {e}")));
    }
    if let Some(path) = text.strip_prefix('@') {
        let path = PathBuf::from(path);
        let csv = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv {
            let Some(m) = model else {
                return Err(Failure::usage(
                    "a CSV file is for --data of a model command",
                ));
            };
            return read_csv(&path, m);
        }
        let body = std::fs::read_to_string(&path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        return serde_json::from_str(&body)
            .map_err(|e| Failure::usage(format!("{} is not valid JSON: {e}", path.display())));
    }
    serde_json::from_str(text).map_err(|e| Failure::usage(format!("not valid JSON: {e}")))
}

/// Reads JSON given as text, `@FILE` or `-` (`flowgate node --params`).
pub(crate) fn read_json_arg(text: &str) -> Result<Value, Failure> {
    read_input(text, None)
}

/// Reads a CSV file into records: a header row of field names, values converted by the
/// model's field types; an empty cell leaves the field out. Columns the model lacks pass as
/// text, for the operation to refuse by name.
fn read_csv(path: &Path, m: &ModelInfo) -> Result<Value, Failure> {
    let bad = |e: csv::Error| Failure::usage(format!("{}: {e}", path.display()));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(bad)?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(bad)?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(bad)?;
        let mut obj = Map::new();
        for (name, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let v = match m.column(name) {
                Some(c) => convert(&c.def, cell).map_err(|reason| {
                    Failure::from(flowgate::Error::validation(
                        format!("data[{i}].{name}"),
                        reason,
                    ))
                })?,
                None => Value::String(cell.to_string()),
            };
            obj.insert(name.clone(), v);
        }
        rows.push(Value::Object(obj));
    }
    Ok(Value::Array(rows))
}

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

/// `data[3].title` seen from a batch that starts at `offset`: `data[1003].title`.
fn shift_field(field: &str, offset: usize) -> String {
    let Some(rest) = field.strip_prefix("data[") else {
        return field.to_string();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return field.to_string();
    };
    match n.parse::<usize>() {
        Ok(i) => format!("data[{}]{tail}", i + offset),
        Err(_) => field.to_string(),
    }
}

fn shift_failure(mut f: Failure, offset: usize) -> Failure {
    if let Some(field) = f.0["field"].as_str() {
        f.0["field"] = json!(shift_field(field, offset));
    }
    f
}

/// Adds one batch's result to the sum: counts add up, ids follow each other, error indexes
/// count from the start of the whole import.
fn merge(acc: &mut Option<Value>, mut part: Value, offset: usize) {
    if let Some(errors) = part.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            if let Some(i) = e["index"].as_u64() {
                e["index"] = json!(i + offset as u64);
            }
            if let Some(f) = e["error"]["field"].as_str() {
                e["error"]["field"] = json!(shift_field(f, offset));
            }
        }
    }
    let Some(sum) = acc.as_mut().and_then(Value::as_object_mut) else {
        *acc = Some(part);
        return;
    };
    let Value::Object(part) = part else { return };
    for (k, v) in part {
        match (sum.get_mut(&k), v) {
            (Some(Value::Number(a)), Value::Number(b)) => {
                if let (Some(a_), Some(b_)) = (a.as_u64(), b.as_u64()) {
                    *a = (a_ + b_).into();
                }
            }
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (None, v) => {
                sum.insert(k, v);
            }
            _ => {}
        }
    }
}

fn written(part: &Value) -> u64 {
    ["inserted", "updated"]
        .iter()
        .filter_map(|k| part[k].as_u64())
        .sum()
}

/// A bulk import larger than one batch: locally, every batch in one transaction (all or none
/// for an atomic import, rolled back for a dry run); remotely, one request per batch (each
/// commits on its own; a failure stops the import and its error tells how many records were
/// written before). Either way, one result of the operation's shape, with a progress bar on a
/// terminal.
async fn run_batched(
    backend: &Backend,
    m: &ModelInfo,
    op: OpKind,
    mut params: Value,
    batch: usize,
) -> Result<Value, Failure> {
    let records = match params["data"].take() {
        Value::Array(r) => r,
        _ => Vec::new(),
    };
    let dry_run = params["dry_run"] == true;
    let bar = output::progress(records.len() as u64, "records");
    let mut batches = Vec::new();
    let mut starts = Vec::new();
    for (i, chunk) in records.chunks(batch).enumerate() {
        let mut p = params.clone();
        p["data"] = Value::Array(chunk.to_vec());
        if let (Backend::Local(_), Some(obj)) = (backend, p.as_object_mut()) {
            // The one transaction rolls back at the end instead.
            obj.remove("dry_run");
        }
        batches.push(p);
        starts.push(i * batch);
    }
    let sizes: Vec<u64> = records.chunks(batch).map(|c| c.len() as u64).collect();
    let mut acc: Option<Value> = None;
    match backend {
        Backend::Local(local) => {
            let mut failed_at = 0;
            let each = |i: usize, result: Result<Value, Failure>| {
                failed_at = i;
                let part = result.map_err(|f| shift_failure(f, starts[i]))?;
                merge(&mut acc, part, starts[i]);
                bar.inc(sizes[i]);
                Ok(())
            };
            let done = local.run_batches(m, op, batches, dry_run, each).await;
            if let Err(f) = done {
                bar.abandon();
                let failed = starts[failed_at]..starts[failed_at] + sizes[failed_at] as usize;
                return Err(name_row(backend, m, &records, failed, f).await);
            }
            if dry_run && let Some(obj) = acc.as_mut().and_then(Value::as_object_mut) {
                obj.insert("dry_run".into(), Value::Bool(true));
            }
        }
        Backend::Remote(_) => {
            let mut committed = 0;
            for (i, p) in batches.iter().enumerate() {
                match backend.run(m, op, p).await {
                    Ok(part) => {
                        committed += written(&part);
                        merge(&mut acc, part, starts[i]);
                        bar.inc(sizes[i]);
                    }
                    Err(f) => {
                        bar.abandon();
                        let failed = starts[i]..starts[i] + sizes[i] as usize;
                        let f = shift_failure(f, starts[i]);
                        let mut f = name_row(backend, m, &records, failed, f).await;
                        if !dry_run && committed > 0 {
                            if f.0.get("details").is_none_or(Value::is_null) {
                                f.0["details"] = json!({});
                            }
                            if let Some(d) = f.0["details"].as_object_mut() {
                                d.insert("written_before".into(), json!(committed));
                            }
                        }
                        return Err(f);
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(acc.unwrap_or_else(|| json!({})))
}

/// The first argument that is not an option: the subcommand.
fn first_word(args: &[OsString]) -> Option<String> {
    args.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .find(|a| !a.starts_with('-'))
        .map(|a| a.into_owned())
}

/// The connection options, read leniently before the models (and so the full command line)
/// are known; clap checks them properly afterwards.
fn prescan(args: &[OsString]) -> ClientArgs {
    let mut out = ClientArgs::default();
    let words: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if word == "--" {
            break;
        }
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let takes_value = [
            "--format",
            "--server",
            "--config",
            "--models",
            "--database-url",
            "--discover",
        ]
        .contains(&name);
        let value = if takes_value && inline.is_none() {
            i += 1;
            words.get(i - 1).cloned()
        } else {
            inline
        };
        match name {
            "--server" => out.server = value,
            "--config" => out.config = value.map(PathBuf::from),
            "--models" => out.models.extend(value.map(PathBuf::from)),
            "--discover" => out.discover.extend(value.map(PathBuf::from)),
            "--database-url" => out.database_url = value,
            "--json" => out.output.json = true,
            "--table" => out.output.table = true,
            "--format" => {
                out.output.format =
                    value.and_then(|v| <Format as clap::ValueEnum>::from_str(&v, true).ok());
            }
            _ => {}
        }
    }
    if out.server.is_none() {
        out.server = std::env::var("FLOWGATE_SERVER")
            .ok()
            .filter(|s| !s.is_empty());
    }
    out
}

/// When the first word names no static command (it is a table), runs the data-plane command
/// and gives its exit code; otherwise None, and the static command line takes over.
pub(crate) fn main_if_data_command(args: &[OsString]) -> Option<ExitCode> {
    let first = first_word(args)?;
    let statics = super::Cli::command();
    if first == "help" || statics.find_subcommand(&first).is_some() {
        return None;
    }
    super::client::init_tracing("warn");
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return Some(ExitCode::FAILURE);
        }
    };
    Some(runtime.block_on(run(args, &first)))
}

/// When a server does not serve the table asked for, is it because it is not ready yet?
async fn remote_not_ready(args: &ClientArgs) -> Option<Failure> {
    let url = args.server.as_deref()?;
    let board = super::remote::Remote::board(url).await.ok()?;
    if board["ready"] == true {
        return None;
    }
    let waiting: Vec<String> = board["features"]
        .as_object()?
        .iter()
        .filter(|(_, f)| f["state"] != "ready")
        .map(|(name, f)| match f["reason"].as_str() {
            Some(r) => format!("{name} {} ({r})", f["state"].as_str().unwrap_or("")),
            None => format!("{name} {}", f["state"].as_str().unwrap_or("")),
        })
        .collect();
    Some(Failure::from(flowgate::Error::NotReady {
        what: "server".into(),
        state: waiting.join("; "),
        retry_after_ms: 1000,
    }))
}

async fn run(args: &[OsString], table: &str) -> ExitCode {
    let pre = prescan(args);
    let format = pre.output.format();
    let backend = match Backend::open(&pre, true).await {
        Ok(b) => b,
        Err(f) => return output::fail(&f, format),
    };
    if !backend.models().iter().any(|e| e.info.table == table) {
        let not_ready = match backend.unavailable().iter().find(|u| u.table == table) {
            Some(u) => Some(u.failure()),
            None if matches!(backend, Backend::Remote(_)) => remote_not_ready(&pre).await,
            None => None,
        };
        if let Some(f) = not_ready {
            backend.close().await;
            return output::fail(&f, format);
        }
    }
    let matches = match command(backend.models()).try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            backend.close().await;
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let code = run_matched(&backend, &matches).await;
    backend.close().await;
    code
}

async fn run_matched(backend: &Backend, matches: &ArgMatches) -> ExitCode {
    let Some((table, tm)) = matches.subcommand() else {
        return ExitCode::from(2);
    };
    let Some((op_name, am)) = tm.subcommand() else {
        return ExitCode::from(2);
    };
    let out_args = ClientArgs::from_arg_matches(am)
        .map(|c| c.output)
        .unwrap_or_default();
    let format = out_args.format();
    let Some(entry) = backend.models().iter().find(|e| e.info.table == table) else {
        return ExitCode::from(2);
    };
    let Some(op) = OpKind::ALL
        .into_iter()
        .find(|k| op_command_name(*k) == op_name)
    else {
        return ExitCode::from(2);
    };
    let m = &entry.info;
    let bulk = matches!(op, OpKind::BulkCreate | OpKind::BulkUpsert);
    let all = op == OpKind::List && am.try_get_one::<bool>("all").ok().flatten() == Some(&true);
    // Records read from a file or a pipe: a summary, unless a format is asked for.
    let piped = am
        .try_get_one::<String>("data")
        .ok()
        .flatten()
        .is_some_and(|d| d == "-" || d.starts_with('@'));
    let result = async {
        let params = params(m, op, am)?;
        if all {
            return list_all(backend, m, params, format).await;
        }
        if op == OpKind::List && format == Format::Csv {
            let mut csv = output::Csv::new(Some(list_columns(m, &params)));
            let page = backend.run(m, op, &params).await?;
            let rows = page["records"].as_array().into_iter().flatten();
            csv.rows(rows.filter_map(Value::as_object).collect());
            csv.finish();
            return Ok(None);
        }
        let batch = am
            .try_get_one::<usize>("batch-size")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(DEFAULT_BATCH);
        let large = params["data"]
            .as_array()
            .is_some_and(|d| batch > 0 && d.len() > batch);
        if bulk && large {
            run_batched(backend, m, op, params, batch).await.map(Some)
        } else if bulk {
            match backend.run(m, op, &params).await {
                Ok(v) => Ok(Some(v)),
                Err(f) => {
                    let records = params["data"].as_array().map_or(&[][..], Vec::as_slice);
                    Err(name_row(backend, m, records, 0..records.len(), f).await)
                }
            }
        } else {
            backend.run(m, op, &params).await.map(Some)
        }
    }
    .await;
    match result {
        Ok(Some(v)) if bulk && piped && !out_args.explicit() => {
            output::line(&summary(&v));
            ExitCode::SUCCESS
        }
        Ok(Some(v)) => {
            output::print(&v, format);
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(f) => output::fail(&f, format),
    }
}

/// The records per page of `list --all` without `--limit`: the most a page holds.
const ALL_PAGE: u64 = 1000;

/// The columns of a listing in CSV: the id and the fields asked for, or every column.
fn list_columns(m: &ModelInfo, params: &Value) -> Vec<String> {
    match params["fields"].as_array() {
        Some(names) => {
            let mut out = vec![m.id().name().to_string()];
            for n in names.iter().filter_map(Value::as_str) {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
            out
        }
        None => m.columns.iter().map(|c| c.name().to_string()).collect(),
    }
}

/// `list --all`: every page, following `next_cursor`. CSV is written page by page (and stops
/// when stdout's reader goes away: None); other formats get one result, `{records, count?}`.
async fn list_all(
    backend: &Backend,
    m: &ModelInfo,
    mut params: Value,
    format: Format,
) -> Result<Option<Value>, Failure> {
    if params.get("limit").is_none() {
        params["limit"] = json!(ALL_PAGE);
    }
    let mut csv = (format == Format::Csv).then(|| output::Csv::new(Some(list_columns(m, &params))));
    let mut records = Vec::new();
    let mut count = None;
    loop {
        let mut page = backend.run(m, OpKind::List, &params).await?;
        if let Some(c) = page.get("count").cloned() {
            count.get_or_insert(c);
        }
        let got = match page["records"].take() {
            Value::Array(r) => r,
            _ => Vec::new(),
        };
        match &mut csv {
            Some(csv) => {
                if !csv.rows(got.iter().filter_map(Value::as_object).collect()) {
                    return Ok(None);
                }
            }
            None => records.extend(got),
        }
        let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) else {
            break;
        };
        if let Some(p) = params.as_object_mut() {
            p.insert("cursor".into(), json!(cursor));
            // The first page skipped them; the cursor carries on from there.
            p.remove("offset");
            p.remove("count");
        }
    }
    if let Some(csv) = csv {
        csv.finish();
        return Ok(None);
    }
    let mut out = json!({ "records": records });
    if let Some(c) = count {
        out["count"] = c;
    }
    Ok(Some(out))
}

/// A bulk import's result in a line or a few: `created 10000 records`, then each failed record
/// as `data[3].email: message`.
fn summary(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let inserted = n("inserted");
    let mut text = format!(
        "created {inserted} record{}",
        if inserted == 1 { "" } else { "s" }
    );
    if n("updated") > 0 {
        text.push_str(&format!(", updated {}", n("updated")));
    }
    if n("skipped") > 0 {
        text.push_str(&format!(", skipped {}", n("skipped")));
    }
    let errors = v["errors"].as_array().map_or(&[][..], Vec::as_slice);
    if !errors.is_empty() {
        text.push_str(&format!(", {} failed", errors.len()));
    }
    if v["dry_run"] == true {
        text.push_str(" (dry run: nothing was kept)");
    }
    for e in errors {
        let at = format!("data[{}]", e["index"]);
        let field = match e["error"]["field"].as_str() {
            Some(f) if f.starts_with("data[") => f.to_string(),
            Some(f) => format!("{at}.{f}"),
            None => at,
        };
        let message = e["error"]["message"].as_str().unwrap_or("");
        text.push_str(&format!("\n{field}: {message}"));
    }
    text
}

/// The values of a unique set in a record, as a key to compare; None when one is missing (a
/// missing or null value conflicts with nothing).
fn key_of(record: &Value, set: &[&str]) -> Option<String> {
    let values: Option<Vec<&Value>> = set
        .iter()
        .map(|f| record.get(*f).filter(|v| !v.is_null()))
        .collect();
    values.map(|v| serde_json::to_string(&v).unwrap_or_default())
}

/// A unique conflict of an atomic bulk import names the unique set (`email`) but not the
/// record: the database refused the whole statement. Finds the first record of `failed` (the
/// batch that failed) whose values repeat an earlier record of the import, or a record that
/// already exists, and names it: `data[3].email`.
async fn name_row(
    backend: &Backend,
    m: &ModelInfo,
    records: &[Value],
    failed: std::ops::Range<usize>,
    f: Failure,
) -> Failure {
    let Some(field) = f.0["field"].as_str().map(str::to_string) else {
        return f;
    };
    if f.code() != "conflict" || field.starts_with("data[") {
        return f;
    }
    let set: Vec<&str> = field.split(',').collect();
    if set.iter().any(|c| m.column(c).is_none()) {
        return f;
    }
    let failed = failed.start.min(records.len())..failed.end.min(records.len());
    let mut seen = std::collections::HashSet::new();
    let mut repeated = None;
    for (i, r) in records[..failed.end].iter().enumerate() {
        if let Some(k) = key_of(r, &set)
            && !seen.insert(k)
            && i >= failed.start
        {
            repeated = Some(i);
            break;
        }
    }
    let mut existing = None;
    let scan_end = repeated.unwrap_or(failed.end);
    'chunks: for start in (failed.start..scan_end).step_by(200) {
        let chunk = &records[start..(start + 200).min(scan_end)];
        let wanted: Vec<Value> = chunk
            .iter()
            .filter(|r| key_of(r, &set).is_some())
            .map(|r| {
                let obj: Map<String, Value> =
                    set.iter().map(|c| (c.to_string(), r[*c].clone())).collect();
                Value::Object(obj)
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut params = json!({"filter": {"$or": wanted}, "fields": set, "limit": 1000});
        if m.soft_delete() {
            // A tombstone keeps its unique values.
            params["include_deleted"] = json!(true);
        }
        let Ok(page) = backend.run(m, OpKind::List, &params).await else {
            break;
        };
        let found: std::collections::HashSet<String> = page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| key_of(r, &set))
            .collect();
        for (j, r) in chunk.iter().enumerate() {
            if key_of(r, &set).is_some_and(|k| found.contains(&k)) {
                existing = Some(start + j);
                break 'chunks;
            }
        }
    }
    let Some(i) = [repeated, existing].into_iter().flatten().min() else {
        return f;
    };
    let mut f = f;
    f.0["field"] = json!(format!("data[{i}].{field}"));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_conversions() {
        assert_eq!(flag_of("project_id"), "project-id");
        assert_eq!(flag_of("limit"), "field-limit");
        let int = FieldDef::integer("pages");
        assert_eq!(convert(&int, "412"), Ok(json!(412)));
        assert!(convert(&int, "4x").is_err());
        assert_eq!(
            convert(&FieldDef::integer("n").optional(), "null"),
            Ok(Value::Null)
        );
        assert_eq!(
            convert(&FieldDef::string("s").optional(), "null"),
            Ok(json!("null"))
        );
        assert_eq!(convert(&FieldDef::boolean("b"), "yes"), Ok(json!(true)));
        assert_eq!(convert(&FieldDef::float("f"), "1.5"), Ok(json!(1.5)));
        assert_eq!(convert(&FieldDef::json("j"), "[1, 2]"), Ok(json!([1, 2])));
    }

    #[test]
    fn batches_merge_into_one_result() {
        let mut acc = None;
        merge(
            &mut acc,
            json!({"inserted": 2, "skipped": 0, "ids": [1, 2], "errors": []}),
            0,
        );
        merge(
            &mut acc,
            json!({"inserted": 1, "skipped": 0, "ids": [3], "errors": [{"index": 1, "error": {"code": "validation", "field": "data[1].title"}}]}),
            2,
        );
        assert_eq!(
            acc.unwrap(),
            json!({"inserted": 3, "skipped": 0, "ids": [1, 2, 3], "errors": [{"index": 3, "error": {"code": "validation", "field": "data[3].title"}}]})
        );
        assert_eq!(shift_field("data[7].x", 1000), "data[1007].x");
        assert_eq!(shift_field("filter", 1000), "filter");
    }

    #[test]
    fn prescan_finds_connection_options() {
        let args: Vec<OsString> = [
            "flowgate",
            "books",
            "list",
            "--database-url=sqlite://x.db",
            "--models",
            "m.toml",
            "--json",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let pre = prescan(&args);
        assert_eq!(pre.database_url.as_deref(), Some("sqlite://x.db"));
        assert_eq!(pre.models, vec![PathBuf::from("m.toml")]);
        assert!(pre.output.json);
    }
}
