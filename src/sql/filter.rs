//! Filters and keyset positions to SQL conditions.

use super::{Dialect, bind_value};
use crate::model::ModelInfo;
use crate::query::{CmpOp, Cursor, Filter, OrderBy, PatternOp};
use crate::value::Val;
use sea_query::{Alias, BinOper, Expr, ExprTrait, Func, LikeExpr};

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

fn always(truth: bool) -> Expr {
    Expr::cust(if truth { "1 = 1" } else { "1 = 0" })
}

fn and_all(parts: Vec<Expr>) -> Expr {
    balanced(parts, Expr::and).unwrap_or_else(|| always(true))
}

fn or_any(parts: Vec<Expr>) -> Expr {
    balanced(parts, Expr::or).unwrap_or_else(|| always(false))
}

/// How many conditions one `a AND b AND ...` chain joins before chains are joined as a tree.
const CHAIN: usize = 64;

/// Joins conditions as written (`a OR b OR c`) in chains of up to [`CHAIN`], and the chains
/// pairwise, level by level, into a tree of depth log2(n). sea-query writes expressions out
/// recursively, so one chain of an `$or` with thousands of items (or of a bulk upsert's lookup
/// by key) would overflow the stack.
fn balanced(parts: Vec<Expr>, join: fn(Expr, Expr) -> Expr) -> Option<Expr> {
    let mut level: Vec<Expr> = Vec::with_capacity(parts.len().div_ceil(CHAIN));
    let mut iter = parts.into_iter().peekable();
    while iter.peek().is_some() {
        level.extend(iter.by_ref().take(CHAIN).reduce(join));
    }
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        let mut iter = level.into_iter();
        while let Some(left) = iter.next() {
            next.push(match iter.next() {
                Some(right) => join(left, right),
                None => left,
            });
        }
        level = next;
    }
    level.pop()
}

/// Escapes `%`, `_` and `\` so that text matches literally inside a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The SQL condition of a filter.
pub(crate) fn condition(model: &ModelInfo, f: &Filter, d: Dialect) -> Expr {
    let ty = |c: &str| {
        model
            .column(c)
            .map(|c| c.ty())
            .expect("filter columns come from the model")
    };
    let optional = |c: &str| model.column(c).is_some_and(|c| c.def.optional);
    let v = |c: &str, val: &Val| Expr::val(bind_value(val, ty(c), d));
    match f {
        Filter::And(parts) => and_all(parts.iter().map(|p| condition(model, p, d)).collect()),
        Filter::Or(parts) => or_any(parts.iter().map(|p| condition(model, p, d)).collect()),
        Filter::Not(inner) => condition(model, inner, d).not(),
        Filter::Cmp { column, op, value } => {
            let c = col(column);
            let rhs = v(column, value);
            match op {
                CmpOp::Eq => c.eq(rhs),
                CmpOp::Ne if optional(column) => c.clone().ne(rhs).or(c.is_null()),
                CmpOp::Ne => c.ne(rhs),
                CmpOp::Gt => c.gt(rhs),
                CmpOp::Gte => c.gte(rhs),
                CmpOp::Lt => c.lt(rhs),
                CmpOp::Lte => c.lte(rhs),
            }
        }
        Filter::In {
            column,
            negated,
            values,
        } => {
            if values.is_empty() {
                return always(*negated);
            }
            let list: Vec<Expr> = values.iter().map(|x| v(column, x)).collect();
            if *negated {
                let e = col(column).is_not_in(list);
                if optional(column) {
                    e.or(col(column).is_null())
                } else {
                    e
                }
            } else {
                col(column).is_in(list)
            }
        }
        Filter::Tenant(t) => col(crate::model::TENANT_COLUMN).eq(Expr::val(bind_value(
            t,
            crate::model::FieldType::String,
            d,
        ))),
        Filter::Null { column, is_null } => {
            if *is_null {
                col(column).is_null()
            } else {
                col(column).is_not_null()
            }
        }
        Filter::Pattern {
            column,
            op,
            pattern,
            ..
        } => {
            match op {
                PatternOp::Like => col(column).like(LikeExpr::new(pattern.as_str()).escape('\\')),
                PatternOp::Contains => col(column)
                    .like(LikeExpr::new(format!("%{}%", escape_like(pattern))).escape('\\')),
                PatternOp::StartsWith => col(column)
                    .like(LikeExpr::new(format!("{}%", escape_like(pattern))).escape('\\')),
                PatternOp::ILike => Expr::expr(Func::lower(col(column)))
                    .like(LikeExpr::new(pattern.to_lowercase()).escape('\\')),
                PatternOp::Regex => {
                    let op = if d == Dialect::Postgres {
                        "~"
                    } else {
                        "REGEXP"
                    };
                    col(column).binary(BinOper::Custom(op), Expr::val(pattern.as_str()))
                }
            }
        }
    }
}

/// The condition "after the keyset position `cursor`" for the ordering `order`. Nulls sort last
/// ascending and first descending (treated as the largest value), matching `select`'s ORDER BY.
pub(crate) fn after(model: &ModelInfo, order: &[OrderBy], cursor: &Cursor, d: Dialect) -> Expr {
    let mut alternatives = Vec::new();
    let mut ties: Vec<Expr> = Vec::new();
    for (key, val) in order.iter().zip(&cursor.values) {
        let column = model
            .column(&key.column)
            .expect("order columns come from the model");
        let c = col(&key.column);
        let nullable = column.def.optional;
        let (beyond, tie) = if val.is_null() {
            // The position is among the nulls: ascending, nothing non-null follows; descending,
            // every non-null value follows.
            let beyond = if key.desc {
                Some(c.clone().is_not_null())
            } else {
                None
            };
            (beyond, c.is_null())
        } else {
            let rhs = Expr::val(bind_value(val, column.ty(), d));
            let past = if key.desc {
                c.clone().lt(rhs.clone())
            } else {
                c.clone().gt(rhs.clone())
            };
            let beyond = if nullable && !key.desc {
                past.or(c.clone().is_null())
            } else {
                past
            };
            (Some(beyond), c.eq(rhs))
        };
        if let Some(b) = beyond {
            let mut parts = ties.clone();
            parts.push(b);
            alternatives.push(and_all(parts));
        }
        ties.push(tie);
    }
    or_any(alternatives)
}
