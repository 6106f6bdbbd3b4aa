//! The data commands `flowgate <table> <op>`, built at run time with clap's builder API from
//! the models the database (or the server) serves: a subcommand per model table, one per
//! operation under it, a typed flag per writable field.
//!
//! Typed flags: each writable field is a flag (`--title Dune --pages 412`; a field `project_id`
//! is `--project-id`; a field whose flag would clash with an option is `--field-NAME`) whose
//! value is converted to the field's JSON type. `--data` gives the params (or, for bulk-create
//! and bulk-upsert, the records) as JSON, `@file.json`, `@file.csv` or `-` (standard input);
//! flags win over its keys. The CLI's names (`bulk-create`, `--project-id`) are derived here
//! and only here.

use super::args::{Cli, ClientArgs};
use super::field_text::convert;
use super::models::ModelEntry;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, Args, Command, CommandFactory};
use flowgate::model::{Column, FieldDef, FieldType, Role};
use flowgate::{ModelInfo, OpKind};
use serde_json::Value;

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
    "expand",
    "expand-limit",
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

/// The subcommand of an operation: `bulk-create` (`flowgate::naming`).
pub(crate) fn op_command_name(op: OpKind) -> String {
    op.cli_name().to_string()
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
    if creating && f.required_on_create() {
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
    // Relations to read with the records (`GET /models/{Model}` lists them).
    let expand = |cmd: Command| {
        cmd.arg(list_arg(
            "expand",
            "RELATION",
            "Relations to read with each record: a belongs-to as its record, a has-many as a list (comma-separated; `flowgate models show` lists them)",
        ))
        .arg(
            Arg::new("expand-limit")
                .long("expand-limit")
                .value_name("N")
                .value_parser(clap::value_parser!(u64))
                .help("Related records per record of a has-many relation (default 20, at most 100)"),
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
            cmd = expand(cmd.arg(id_arg(m)));
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
                cmd = expand(cmd);
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
    let mut root = Cli::command();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_of_fields() {
        assert_eq!(flag_of("project_id"), "project-id");
        assert_eq!(flag_of("limit"), "field-limit");
        assert_eq!(op_command_name(OpKind::BulkCreate), "bulk-create");
    }
}
