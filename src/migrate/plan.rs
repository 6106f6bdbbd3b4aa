//! Planning: the steps that take a table from one definition to another, each with its up and
//! down statements, and the changes that are destructive or unsupported.

use crate::model::{Column, FieldType, ModelInfo, Role};
use crate::sql::{self, Dialect, Stmt, alter};
use serde::Serialize;

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// What it does, in words.
    pub description: String,
    /// The statements that apply it.
    pub up: Vec<Stmt>,
    /// The statements that undo it.
    pub down: Vec<Stmt>,
}

/// What migrating one model takes.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// The model.
    pub model: String,
    /// Every change, in words (steps, and changes without SQL such as a new description).
    pub changes: Vec<String>,
    /// Changes that lose data or may fail on existing rows: applied only when allowed.
    pub destructive: Vec<String>,
    /// Changes this database cannot make in place: never applied automatically.
    pub unsupported: Vec<String>,
    /// Changes that hold only on an empty table (turning tenancy on: existing rows would need
    /// a tenant). Applied when the table is empty, or when destructive changes are allowed.
    pub needs_empty: Vec<String>,
    #[serde(skip)]
    steps: Vec<Step>,
}

impl Plan {
    fn step(&mut self, description: String, up: Vec<Stmt>, down: Vec<Stmt>) {
        self.changes.push(description.clone());
        self.steps.push(Step {
            description,
            up,
            down,
        });
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Every up statement, in order.
    pub fn up(&self) -> Vec<Stmt> {
        self.steps.iter().flat_map(|s| s.up.clone()).collect()
    }

    /// Every down statement: the steps undone newest first.
    pub fn down(&self) -> Vec<Stmt> {
        self.steps
            .iter()
            .rev()
            .flat_map(|s| s.down.clone())
            .collect()
    }

    /// Whether nothing needs to run.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Why the plan may not be applied, if it may not: unsupported changes always, destructive
    /// ones unless `allow_destructive`.
    pub fn refusal(&self, allow_destructive: bool) -> Option<String> {
        if !self.unsupported.is_empty() {
            return Some(format!(
                "unsupported change: {}",
                self.unsupported.join("; ")
            ));
        }
        if !self.destructive.is_empty() && !allow_destructive {
            return Some(format!(
                "destructive change refused (run `flowgate migrate up --allow-destructive` to apply): {}",
                self.destructive.join("; ")
            ));
        }
        None
    }
}

fn user_columns(m: &ModelInfo) -> impl Iterator<Item = &Column> {
    m.columns
        .iter()
        .filter(|c| matches!(c.role, Role::Field | Role::DeletedAt))
}

fn type_words(c: &Column) -> String {
    let f = &c.def;
    match (f.ty, f.max_length) {
        (FieldType::String, Some(n)) => format!("string({n})"),
        (FieldType::Enum, _) => format!("enum({})", f.values.join("|")),
        (FieldType::Decimal, _) if f.precision.is_some() => format!(
            "decimal({},{})",
            f.precision.unwrap_or(0),
            f.scale.unwrap_or(0)
        ),
        (ty, _) => ty.to_string(),
    }
}

/// Plans the change from `old` (None: a new model) to `new` on dialect `d`.
pub fn plan(
    old: Option<&ModelInfo>,
    new: &ModelInfo,
    tables: &dyn Fn(&str) -> Option<String>,
    d: Dialect,
) -> Plan {
    let mut p = Plan {
        model: new.name().to_string(),
        ..Plan::default()
    };
    if !new.def.managed {
        // Served as it is: never DDL (DESIGN 13.10).
        if old.is_none_or(|o| o.def.managed) {
            p.changes.push(format!(
                "serve the existing table {} as it is (managed = false)",
                new.table
            ));
        }
        return p;
    }
    let Some(old) = old else {
        p.step(
            format!("create table {}", new.table),
            sql::create_table(new, tables, d),
            vec![alter::drop_table(new, d)],
        );
        return p;
    };
    if old.table != new.table {
        p.unsupported
            .push(format!("renaming table {} to {}", old.table, new.table));
        return p;
    }
    if old.def.id != new.def.id {
        p.unsupported.push("changing the id type".into());
        return p;
    }
    if old.def.timestamps != new.def.timestamps {
        p.unsupported
            .push("turning the managed timestamps on or off".into());
        return p;
    }
    // Indexes go before the columns they cover (SQLite cannot drop an indexed column) and come
    // after the columns they need.
    let old_ix = sql::index_specs(old);
    let new_ix = sql::index_specs(new);
    for (unique, cols) in old_ix.iter().filter(|i| !new_ix.contains(i)) {
        let kind = if *unique { "unique index" } else { "index" };
        p.step(
            format!("drop {kind} on {}", cols.join(", ")),
            vec![alter::drop_index(old, *unique, cols, d)],
            vec![alter::create_index(old, *unique, cols, d)],
        );
    }
    for col in user_columns(new) {
        let name = col.name();
        match old.column(name) {
            None => {
                let words = format!("add column {name} {}", type_words(col));
                if col.def.optional || col.def.default.is_some() {
                    p.step(
                        words,
                        alter::add_column(new, col, tables, d),
                        alter::drop_column(new, col, d),
                    );
                } else {
                    p.destructive.push(format!("{words}: it is required and has no default, so existing rows cannot be filled"));
                    p.step(
                        words,
                        alter::add_column(new, col, tables, d),
                        alter::drop_column(new, col, d),
                    );
                }
            }
            Some(was) => compare(&mut p, old, was, new, col, d),
        }
    }
    for was in user_columns(old) {
        if new.column(was.name()).is_none() {
            let words = format!("drop column {}", was.name());
            p.destructive.push(format!("{words}: its data is lost"));
            p.step(
                words,
                alter::drop_column(old, was, d),
                alter::add_column(old, was, tables, d),
            );
        }
    }
    tenancy(&mut p, old, new, d);
    for (unique, cols) in new_ix.iter().filter(|i| !old_ix.contains(i)) {
        let kind = if *unique { "unique index" } else { "index" };
        p.step(
            format!("add {kind} on {}", cols.join(", ")),
            vec![alter::create_index(new, *unique, cols, d)],
            vec![alter::drop_index(new, *unique, cols, d)],
        );
    }
    if old.def.description != new.def.description {
        p.changes.push("change the model description".into());
    }
    p
}

/// Turning tenancy on adds the managed `tenant_id` (nullable in the table, so that every
/// database can add it; the store always writes it, and no tenant sees a row without one),
/// which needs an empty table; turning it off drops it, which mixes every tenant's rows.
fn tenancy(p: &mut Plan, old: &ModelInfo, new: &ModelInfo, d: Dialect) {
    match (&old.tenant, &new.tenant) {
        (None, Some(tenant)) => {
            let unique: Vec<&str> = new
                .def
                .fields
                .iter()
                .filter(|f| f.unique)
                .map(|f| f.name.as_str())
                .collect();
            if !unique.is_empty() {
                p.unsupported.push(format!(
                    "turning tenancy on for a model with unique fields ({}): their table-wide constraints cannot become per-tenant in place",
                    unique.join(", ")
                ));
                return;
            }
            // Its index comes and goes with the index diff of `plan`.
            let mut col = tenant.clone();
            col.def.optional = true;
            col.def.indexed = false;
            let words = "turn tenancy on: add column tenant_id".to_string();
            p.needs_empty.push(format!(
                "{words}: the table has rows, which would need a tenant"
            ));
            let mut up = alter::add_column(new, &col, &|_| None, d);
            up.extend(sql::rls::enable(new, d));
            let mut down = sql::rls::disable(new, d);
            down.extend(alter::drop_column(new, &col, d));
            p.step(words, up, down);
        }
        (Some(tenant), None) => {
            let words = "turn tenancy off: drop column tenant_id".to_string();
            p.destructive
                .push(format!("{words}: every tenant's rows become one table"));
            let mut col = tenant.clone();
            col.def.optional = true;
            col.def.indexed = false;
            let mut up = sql::rls::disable(old, d);
            up.extend(alter::drop_column(old, &col, d));
            let mut down = alter::add_column(old, &col, &|_| None, d);
            down.extend(sql::rls::enable(old, d));
            p.step(words, up, down);
        }
        _ => {}
    }
}

fn compare(p: &mut Plan, old: &ModelInfo, was: &Column, new: &ModelInfo, col: &Column, d: Dialect) {
    let (a, b) = (&was.def, &col.def);
    let name = col.name();
    let same_type = a.ty == b.ty
        && a.max_length == b.max_length
        && a.values == b.values
        && a.precision == b.precision
        && a.scale == b.scale;
    let widening = a.ty == FieldType::String
        && b.ty == FieldType::String
        && b.max_length
            .is_none_or(|n| a.max_length.is_some_and(|m| n >= m));
    let enum_grows = a.ty == FieldType::Enum
        && b.ty == FieldType::Enum
        && a.values.iter().all(|v| b.values.contains(v));
    if !same_type || a.optional != b.optional {
        let mut words = Vec::new();
        if !same_type {
            words.push(format!(
                "change column {name} from {} to {}",
                type_words(was),
                type_words(col)
            ));
        }
        if a.optional != b.optional {
            words.push(format!(
                "make column {name} {}",
                if b.optional { "optional" } else { "required" }
            ));
        }
        let words = words.join(" and ");
        let safe = (same_type || widening) && (a.optional == b.optional || b.optional);
        match (
            alter::alter_column(new, col, d),
            alter::alter_column(old, was, d),
        ) {
            (Some(up), Some(down)) => {
                if !safe {
                    p.destructive
                        .push(format!("{words}: existing values may not fit"));
                }
                p.step(words, up, down);
            }
            _ if widening && a.optional == b.optional => {
                p.changes.push(format!("{words} (nothing to do on SQLite)"))
            }
            _ if enum_grows && a.optional == b.optional => p.unsupported.push(format!(
                "{words}: SQLite cannot change a CHECK constraint in place"
            )),
            _ => p
                .unsupported
                .push(format!("{words}: SQLite cannot alter a column in place")),
        }
    }
    if a.unique != b.unique {
        p.unsupported.push(format!(
            "{} a unique constraint on {name}: declare a composite `unique` set instead",
            if b.unique { "adding" } else { "removing" }
        ));
    }
    if a.indexed != b.indexed && !b.unique && !a.unique {
        let cols = vec![name.to_string()];
        if b.indexed {
            p.step(
                format!("add index on {name}"),
                vec![alter::create_index(new, false, &cols, d)],
                vec![alter::drop_index(new, false, &cols, d)],
            );
        } else {
            p.step(
                format!("drop index on {name}"),
                vec![alter::drop_index(old, false, &cols, d)],
                vec![alter::create_index(old, false, &cols, d)],
            );
        }
    }
    if a.references != b.references || a.on_delete != b.on_delete {
        p.unsupported
            .push(format!("changing the reference of {name}"));
    }
    if a.default != b.default || a.description != b.description {
        p.changes
            .push(format!("change the default or description of {name}"));
    }
}
