//! The filter language of DESIGN section 5, parsed into [`Filter`].
//!
//! `{"field": value}` is equality; `{"field": {"$op": value}}` applies an operator; `$and` and
//! `$or` take lists and `$not` takes a filter. Every field is looked up in the model and every value
//! is checked against the field's type, so the AST holds only known columns and typed values.

use super::pattern::check_regex;
use crate::error::{Error, Result};
use crate::model::{ModelInfo, Role};
use crate::value::{self, Val};
use serde_json::{Map, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>` (rows where the column is null match too)
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A text-pattern operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternOp {
    /// SQL `LIKE` with `%` and `_`, case-sensitive on every database.
    Like,
    /// Case-insensitive `LIKE`.
    ILike,
    /// Contains the text (wildcards in it are literal).
    Contains,
    /// Starts with the text (wildcards in it are literal).
    StartsWith,
    /// Matches the regular expression.
    Regex,
}

/// A parsed, typed filter. Column names in it all come from the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every part holds (an empty list is true).
    And(Vec<Filter>),
    /// Some part holds (an empty list is false).
    Or(Vec<Filter>),
    /// The part does not hold.
    Not(Box<Filter>),
    /// A comparison with a non-null value.
    Cmp {
        /// The column.
        column: String,
        /// The operator.
        op: CmpOp,
        /// The value, typed by the column.
        value: Val,
    },
    /// Membership in a list (`$in`, or `$nin` when `negated`).
    In {
        /// The column.
        column: String,
        /// Whether this is `$nin`.
        negated: bool,
        /// The values, typed by the column.
        values: Vec<Val>,
    },
    /// `IS NULL` (or `IS NOT NULL` when `is_null` is false).
    Null {
        /// The column.
        column: String,
        /// Which test.
        is_null: bool,
    },
    /// A text pattern.
    Pattern {
        /// The column.
        column: String,
        /// The operator.
        op: PatternOp,
        /// The pattern or text, as given.
        pattern: String,
        /// Whether the column may be null (a negation must keep null rows out).
        nullable: bool,
    },
    /// The rows of one tenant (`tenant_id = ?`). Never parsed from a caller's filter: the store
    /// adds it to every statement on a tenant-scoped model.
    Tenant(Val),
}

/// How deep `$and`/`$or`/`$not` may nest, and how many values one filter may bind.
const MAX_DEPTH: usize = 32;
const MAX_VALUES: usize = 10_000;

struct Parser<'a> {
    model: &'a ModelInfo,
    values: usize,
}

/// Parses a JSON filter against a model. `null` and `{}` mean "everything". Errors name the
/// field or operator at fault, as `filter.<field>` or `filter.<field>.$op`.
pub fn parse_filter(model: &ModelInfo, json: &Value) -> Result<Filter> {
    let mut p = Parser { model, values: 0 };
    match json {
        Value::Null => Ok(Filter::And(Vec::new())),
        Value::Object(map) => p.object(map, "filter", 0),
        other => Err(Error::validation(
            "filter",
            format!("a filter is an object, got {}", value::kind_of(other)),
        )),
    }
}

impl Parser<'_> {
    fn object(&mut self, map: &Map<String, Value>, at: &str, depth: usize) -> Result<Filter> {
        if depth > MAX_DEPTH {
            return Err(Error::validation(
                at,
                format!("filters nest at most {MAX_DEPTH} levels deep"),
            ));
        }
        let mut parts = Vec::with_capacity(map.len());
        for (key, val) in map {
            let here = format!("{at}.{key}");
            match key.as_str() {
                "$and" | "$or" => {
                    let list = val.as_array().ok_or_else(|| {
                        Error::validation(&here, format!("{key} takes a list of filters"))
                    })?;
                    let mut subs = Vec::with_capacity(list.len());
                    for (i, item) in list.iter().enumerate() {
                        let item_at = format!("{here}[{i}]");
                        let obj = item.as_object().ok_or_else(|| {
                            Error::validation(&item_at, "each item is a filter object")
                        })?;
                        subs.push(self.object(obj, &item_at, depth + 1)?);
                    }
                    parts.push(if key == "$and" {
                        Filter::And(subs)
                    } else {
                        Filter::Or(subs)
                    });
                }
                "$not" => {
                    let obj = val
                        .as_object()
                        .ok_or_else(|| Error::validation(&here, "$not takes a filter object"))?;
                    parts.push(Filter::Not(Box::new(self.object(obj, &here, depth + 1)?)));
                }
                k if k.starts_with('$') => {
                    return Err(Error::validation(here, format!("unknown operator `{k}`")));
                }
                field => parts.push(self.field(field, val, &here)?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Filter::And(parts)
        })
    }

    fn field(&mut self, name: &str, val: &Value, at: &str) -> Result<Filter> {
        if self.model.column(name).is_none() {
            return Err(Error::validation(at, self.model.unknown_field(name)));
        }
        match val {
            Value::Object(ops) if !ops.is_empty() && ops.keys().all(|k| k.starts_with('$')) => {
                let mut parts = Vec::with_capacity(ops.len());
                for (op, arg) in ops {
                    parts.push(self.operator(name, op, arg, &format!("{at}.{op}"))?);
                }
                Ok(if parts.len() == 1 {
                    parts.pop().expect("one part")
                } else {
                    Filter::And(parts)
                })
            }
            other => self.operator(name, "$eq", other, at),
        }
    }

    /// Counts one more bound value, refusing the filter past [`MAX_VALUES`].
    fn bind_one(&mut self, at: &str) -> Result<()> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Error::validation(
                at,
                format!("a filter binds at most {MAX_VALUES} values"),
            ));
        }
        Ok(())
    }

    fn typed(&mut self, column: &str, v: &Value, at: &str) -> Result<Val> {
        self.bind_one(at)?;
        let col = self.model.column(column).expect("column checked by caller");
        let shape = crate::value::Shape {
            max_length: None,
            ..col.shape()
        };
        let val = if col.role == Role::Id {
            value::coerce_id(col.ty(), v)
        } else {
            value::coerce(shape, v)
        };
        val.map_err(|reason| Error::validation(at, format!("{column}: {reason}")))
    }

    fn operator(&mut self, column: &str, op: &str, arg: &Value, at: &str) -> Result<Filter> {
        let col = self.model.column(column).expect("column checked by caller");
        let ty = col.ty();
        let column_s = column.to_string();
        let cmp = |op| -> Option<CmpOp> {
            Some(match op {
                "$eq" => CmpOp::Eq,
                "$ne" => CmpOp::Ne,
                "$gt" => CmpOp::Gt,
                "$gte" => CmpOp::Gte,
                "$lt" => CmpOp::Lt,
                "$lte" => CmpOp::Lte,
                _ => return None,
            })
        };
        if let Some(cmp_op) = cmp(op) {
            let ordering = !matches!(cmp_op, CmpOp::Eq | CmpOp::Ne);
            if ordering && !ty.is_ordered() {
                return Err(Error::validation(
                    at,
                    format!("{op} does not apply to a {ty} field"),
                ));
            }
            if !ordering && matches!(ty, crate::FieldType::Json | crate::FieldType::Bytes) {
                return Err(Error::validation(
                    at,
                    format!("a {ty} field can only be tested with $null"),
                ));
            }
            if arg.is_null() {
                return match cmp_op {
                    CmpOp::Eq => Ok(Filter::Null {
                        column: column_s,
                        is_null: true,
                    }),
                    CmpOp::Ne => Ok(Filter::Null {
                        column: column_s,
                        is_null: false,
                    }),
                    _ => Err(Error::validation(
                        at,
                        format!("{op} needs a value, not null"),
                    )),
                };
            }
            let value = self.typed(column, arg, at)?;
            return Ok(Filter::Cmp {
                column: column_s,
                op: cmp_op,
                value,
            });
        }
        match op {
            "$in" | "$nin" => {
                if matches!(ty, crate::FieldType::Json | crate::FieldType::Bytes) {
                    return Err(Error::validation(
                        at,
                        format!("{op} does not apply to a {ty} field"),
                    ));
                }
                let list = arg
                    .as_array()
                    .ok_or_else(|| Error::validation(at, format!("{op} takes a list of values")))?;
                let mut values = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    if v.is_null() {
                        return Err(Error::validation(
                            format!("{at}[{i}]"),
                            "use $null to test for null",
                        ));
                    }
                    values.push(self.typed(column, v, &format!("{at}[{i}]"))?);
                }
                Ok(Filter::In {
                    column: column_s,
                    negated: op == "$nin",
                    values,
                })
            }
            "$null" => {
                let is_null = arg
                    .as_bool()
                    .ok_or_else(|| Error::validation(at, "$null takes true or false"))?;
                Ok(Filter::Null {
                    column: column_s,
                    is_null,
                })
            }
            "$like" | "$ilike" | "$contains" | "$startswith" | "$regex" => {
                if !ty.is_textual() {
                    return Err(Error::validation(
                        at,
                        format!("{op} applies to text fields, not {ty}"),
                    ));
                }
                let pattern = arg
                    .as_str()
                    .ok_or_else(|| Error::validation(at, format!("{op} takes a string")))?;
                if pattern.contains('\0') {
                    return Err(Error::validation(
                        at,
                        "patterns must not contain NUL characters",
                    ));
                }
                let pop = match op {
                    "$like" => PatternOp::Like,
                    "$ilike" => PatternOp::ILike,
                    "$contains" => PatternOp::Contains,
                    "$startswith" => PatternOp::StartsWith,
                    _ => PatternOp::Regex,
                };
                if pop == PatternOp::Regex {
                    check_regex(pattern).map_err(|e| Error::validation(at, e))?;
                }
                if matches!(pop, PatternOp::Like | PatternOp::ILike) && ends_in_escape(pattern) {
                    // PostgreSQL fails, SQLite matches nothing and MySQL takes it literally.
                    return Err(Error::validation(
                        at,
                        "a pattern must not end with a lone `\\` (write `\\\\` for a backslash)",
                    ));
                }
                self.bind_one(at)?;
                Ok(Filter::Pattern {
                    column: column_s,
                    op: pop,
                    pattern: pattern.to_string(),
                    nullable: col.def.optional,
                })
            }
            other => Err(Error::validation(at, format!("unknown operator `{other}`"))),
        }
    }
}

/// Whether a LIKE pattern ends with an escape character that escapes nothing.
fn ends_in_escape(pattern: &str) -> bool {
    let trailing = pattern.chars().rev().take_while(|&c| c == '\\').count();
    trailing % 2 == 1
}

impl Filter {
    /// Whether the filter matches everything (an empty `$and`).
    pub fn is_empty(&self) -> bool {
        matches!(self, Filter::And(parts) if parts.iter().all(Filter::is_empty))
    }

    /// Whether every row it matches belongs to one tenant: a [`Filter::Tenant`] at the top or
    /// in a top-level `And`.
    pub fn is_tenant_scoped(&self) -> bool {
        match self {
            Filter::Tenant(_) => true,
            Filter::And(parts) => parts.iter().any(Filter::is_tenant_scoped),
            _ => false,
        }
    }

    /// This filter limited to `tenant`'s rows, when there is a tenant.
    pub fn scoped(self, tenant: Option<&Val>) -> Filter {
        match tenant {
            None => self,
            Some(t) if self.is_empty() => Filter::Tenant(t.clone()),
            Some(t) => Filter::And(vec![self, Filter::Tenant(t.clone())]),
        }
    }
}
