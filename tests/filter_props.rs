//! Property tests for the filter language and the SQL built from it (DESIGN section 11).
//!
//! Random JSON filters (nested `$and`/`$or`/`$not`, known and unknown fields and operators,
//! values of right and wrong types, hostile strings) are parsed against a model and, when
//! accepted, compiled for each dialect. The SQL must then hold only the model's identifiers, the
//! builder's own keywords and literals, and one placeholder per bound value; no input string may
//! appear in it. Refusals must be validation errors that name the filter path. Orderings and
//! cursors get the same treatment.
#![allow(missing_docs)]

use flowgate::query::{Cursor, OrderBy, parse_filter, parse_order_by};
use flowgate::sql::{self, Dialect, SelectSpec, Stmt};
use flowgate::{FieldDef, FieldType, IdType, ModelDef, ModelInfo, Schema};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

const DIALECTS: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];

/// Strings chosen to break quoting: they are used as field names, operators and values, and one
/// model even has some of them as enum values (so that filters with them are accepted).
const HOSTILE: &[&str] = &[
    "x\"; DROP TABLE t; --",
    "\"",
    "\"\"",
    "`",
    "``; DROP TABLE t; -- ",
    "'",
    "''; DELETE FROM items; --",
    "' OR '1'='1",
    "1') OR ('1'='1",
    "\\",
    "\\'",
    "a\\",
    "%",
    "%%",
    "_",
    "100% _sure_\\",
    "?",
    "$1",
    "$$",
    "?; SELECT ?",
    "\u{0}",
    "nul\u{0}inside",
    "名前",
    "ñandú",
    "Ωmega ≠ ∑",
    "emoji 🦀 crab",
    "\u{202e}rtl override",
    "line\nbreak",
    "tab\there",
    "",
    " ",
    "id ",
    " id",
    "Id",
    "ID",
    "id\"",
    "name`",
    "items",
    "a.b",
    "a[0]",
    "-",
    "--",
    "/* comment */",
];

/// Enum values with quotes in them: accepted filters then carry hostile text as values.
const KIND_VALUES: &[&str] = &[
    "plain",
    "in_progress",
    "it's",
    "x\"; DROP TABLE t; --",
    "back`tick`",
    "50%_off\\",
];

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let item = ModelDef::new("Item")
        .soft_delete()
        .field(FieldDef::string("name").max_length(40).unique())
        .field(FieldDef::text("body").optional())
        .field(FieldDef::integer("qty").optional())
        .field(FieldDef::float("ratio"))
        .field(FieldDef::decimal("price").precision(12).scale(4).optional())
        .field(FieldDef::boolean("active"))
        .field(FieldDef::date("day").optional())
        .field(FieldDef::datetime("at").optional())
        .field(FieldDef::uuid("ref_id").optional())
        .field(FieldDef::json("meta").optional())
        .field(FieldDef::bytes("blob").optional())
        .field(FieldDef::enumeration("kind", KIND_VALUES.iter().copied()));
    let note = ModelDef::new("Note")
        .id(IdType::String)
        .table("notebook_entries")
        .field(FieldDef::string("title"))
        .field(FieldDef::integer("item_id").optional().references("Item"));
    let doc = ModelDef::new("Doc")
        .id(IdType::Uuid)
        .soft_delete()
        .field(FieldDef::text("content"))
        .field(FieldDef::datetime("seen").optional())
        .field(FieldDef::enumeration("state", ["open", "done"]).optional());
    Schema::new([item, note, doc]).expect("the property models are valid")
});

const MODELS: [&str; 3] = ["Item", "Note", "Doc"];

fn model(i: usize) -> &'static ModelInfo {
    SCHEMA.get(MODELS[i]).expect("model exists")
}

/// Every column name of every model: known to some models, unknown to the others.
fn all_column_names() -> Vec<String> {
    let mut names: Vec<String> = SCHEMA
        .models()
        .flat_map(|m| m.columns.iter().map(|c| c.name().to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

const KNOWN_OPS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$like",
    "$ilike",
    "$contains",
    "$startswith",
    "$regex",
    "$null",
];

const UNKNOWN_OPS: &[&str] = &[
    "$foo", "$", "$EQ", "$where", "$exists", "$and", "$or", "$not", "$in ", "$regexp", "eq",
    "$$eq", "$eq\"",
];

// ---------------------------------------------------------------------------------------------
// Generators

/// Strings that look like typed values (dates, instants, UUIDs, decimals, base64) and
/// near-misses of them.
const TYPED_STRINGS: &[&str] = &[
    "2026-01-02",
    "2026-02-30",
    "0000-01-01",
    "9999-12-31",
    "+262142-12-31",
    "2026-01-02T03:04:05Z",
    "2026-01-02T03:04:05.123456789+14:00",
    "2026-01-02 03:04:05",
    "9999-12-31T23:59:59.999999999-23:59",
    "0001-01-01T00:00:00+23:59",
    "not a date",
    "0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "0190A5B27C3D7E4F8A9B0C1D2E3F4A5B",
    "urn:uuid:0190a5b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
    "12.50",
    " 7 ",
    "-0",
    "1e28",
    "1e29",
    "1e-28",
    "1e-29",
    "1e99999999999999999999",
    "-1e-4294967296",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "0.0000000000000000000000000000001",
    "99999999999999999999999999999999999999999999",
    "NaN",
    "inf",
    "AAEC",
    "AAE=",
    "====",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "true",
    "null",
];

fn text_value() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(HOSTILE).prop_map(String::from),
        2 => select(TYPED_STRINGS).prop_map(String::from),
        1 => select(KIND_VALUES).prop_map(String::from),
        3 => "\\PC{0,24}",
        3 => "[a-zA-Z0-9 %_'\"`;\\\\?$\\-\u{0}]{0,24}",
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        select(vec![0i64, 1, -1, i64::MAX, i64::MIN]).prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        select(vec![
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -0.0,
            0.1,
            1e28,
            7.922_816_251_426_434e28,
            1e300
        ])
        .prop_map(Value::from),
    ]
    .boxed()
}

fn scalar() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        3 => number(),
        5 => text_value().prop_map(Value::String),
    ]
    .boxed()
}

/// Any JSON value, a few levels deep.
fn any_value() -> BoxedStrategy<Value> {
    scalar()
        .prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((text_value(), inner), 0..3)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
        .boxed()
}

fn date_string() -> BoxedStrategy<String> {
    (1i32..=9999, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
        .boxed()
}

fn datetime_string() -> BoxedStrategy<String> {
    (date_string(), 0u32..24, 0u32..60, 0u32..60, 0u32..1_000_000)
        .prop_map(|(d, h, m, s, us)| format!("{d}T{h:02}:{m:02}:{s:02}.{us:06}Z"))
        .boxed()
}

/// A value of the right type for a column.
fn typed_value(ty: FieldType, values: &[String]) -> BoxedStrategy<Value> {
    match ty {
        FieldType::String | FieldType::Text => text_value()
            .prop_filter("no NUL", |s| !s.contains('\0'))
            .prop_map(Value::String)
            .boxed(),
        FieldType::Enum => select(values.to_vec()).prop_map(Value::String).boxed(),
        FieldType::Integer => any::<i64>().prop_map(Value::from).boxed(),
        FieldType::Float => prop_oneof![
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
        ]
        .boxed(),
        FieldType::Decimal => prop_oneof![
            (-1_000_000i64..1_000_000, 0u32..6)
                .prop_map(|(n, s)| { Value::String(rust_decimal::Decimal::new(n, s).to_string()) }),
            (-1e9f64..1e9).prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
        ]
        .boxed(),
        FieldType::Boolean => any::<bool>().prop_map(Value::from).boxed(),
        FieldType::Date => date_string().prop_map(Value::String).boxed(),
        FieldType::Datetime => datetime_string().prop_map(Value::String).boxed(),
        FieldType::Uuid => any::<u128>()
            .prop_map(|n| Value::String(uuid::Uuid::from_u128(n).to_string()))
            .boxed(),
        // Json and bytes can only be tested with $null; any value will do for refusals.
        FieldType::Json | FieldType::Bytes => any_value(),
    }
}

const REGEXES: &[&str] = &[
    "^a",
    "a|b",
    "[0-9]+$",
    "x\"; DROP TABLE t; --",
    "(?i)crab",
    "\\d{2,}",
    "(",
    "a{99999999}",
    "(?=look)",
    "\\1",
];

/// A condition on one column that is mostly type-correct: `(name, condition)`.
fn valid_condition(
    name: String,
    ty: FieldType,
    values: Vec<String>,
) -> BoxedStrategy<(String, Value)> {
    let v = typed_value(ty, &values);
    let list = prop::collection::vec(typed_value(ty, &values), 0..4).prop_map(Value::Array);
    let textual = matches!(ty, FieldType::String | FieldType::Text | FieldType::Enum);
    let pattern: BoxedStrategy<Value> = if textual {
        prop_oneof![
            (
                select(vec!["$like", "$ilike", "$contains", "$startswith"]),
                text_value().prop_filter("no NUL", |s| !s.contains('\0'))
            )
                .prop_map(|(op, s)| json!({ op: s })),
            select(REGEXES).prop_map(|r| json!({"$regex": r})),
        ]
        .boxed()
    } else {
        Just(json!({"$null": true})).boxed()
    };
    let cond = prop_oneof![
        3 => v.clone(),
        1 => Just(Value::Null),
        2 => (select(vec!["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]), v.clone())
            .prop_map(|(op, x)| json!({ op: x })),
        1 => (select(vec!["$gte", "$gt"]), v.clone(), select(vec!["$lte", "$lt"]), v)
            .prop_map(|(a, x, b, y)| json!({ a: x, b: y })),
        2 => (select(vec!["$in", "$nin"]), list).prop_map(|(op, l)| json!({ op: l })),
        1 => any::<bool>().prop_map(|b| json!({"$null": b})),
        2 => pattern,
    ];
    (Just(name), cond).boxed()
}

/// A condition with arbitrary names, operators and values.
fn random_condition() -> BoxedStrategy<(String, Value)> {
    let name = prop_oneof![
        3 => select(all_column_names()),
        2 => select(HOSTILE).prop_map(String::from),
        1 => "\\PC{0,12}",
    ];
    let op = prop_oneof![
        3 => select(KNOWN_OPS).prop_map(String::from),
        1 => select(UNKNOWN_OPS).prop_map(String::from),
        1 => select(HOSTILE).prop_map(String::from),
        1 => "\\$\\PC{0,6}",
    ];
    let cond = prop_oneof![
        2 => any_value(),
        3 => prop::collection::vec((op, any_value()), 0..3)
            .prop_map(|ops| Value::Object(ops.into_iter().collect())),
    ];
    (name, cond).boxed()
}

/// A filter object for model `i`: random trees of `$and`/`$or`/`$not` over conditions, mostly
/// valid for the model so that acceptance is exercised as much as refusal.
fn filter_for(i: usize) -> BoxedStrategy<Value> {
    let m = model(i);
    let valid: Vec<BoxedStrategy<(String, Value)>> = m
        .columns
        .iter()
        .map(|c| valid_condition(c.name().to_string(), c.ty(), c.def.values.clone()))
        .collect();
    let valid = prop::strategy::Union::new(valid).boxed();
    let condition = prop_oneof![10 => valid, 1 => random_condition()];
    let leaf = prop::collection::vec(condition, 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()));
    leaf.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            4 => prop::collection::vec(inner.clone(), 1..5).prop_map(|v| json!({"$and": v})),
            4 => prop::collection::vec(inner.clone(), 1..5).prop_map(|v| json!({"$or": v})),
            1 => Just(json!({"$or": []})),
            3 => inner.clone().prop_map(|f| json!({"$not": f})),
            3 => (inner.clone(), inner.clone()).prop_map(|(a, b)| merge(a, b)),
            // wrong shapes
            1 => any_value().prop_map(|v| json!({"$and": v})),
            1 => (inner.clone(), any_value()).prop_map(|(f, v)| json!({"$or": [f, v]})),
            1 => prop::collection::vec(inner, 0..3).prop_map(|v| json!({"$not": v})),
        ]
    })
    .boxed()
}

fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut a), Value::Object(b)) => {
            a.extend(b);
            Value::Object(a)
        }
        (a, _) => a,
    }
}

/// A model index and a filter for it; sometimes not an object at all.
fn model_and_filter() -> impl Strategy<Value = (usize, Value)> {
    (0..MODELS.len()).prop_flat_map(|i| {
        let f = prop_oneof![
            12 => filter_for(i),
            1 => any_value(),
            1 => Just(Value::Null),
        ];
        (Just(i), f)
    })
}

// ---------------------------------------------------------------------------------------------
// Reading generated SQL

/// What a scan of generated SQL found outside string literals and quoted identifiers.
#[derive(Debug, Default)]
struct Scan {
    idents: Vec<String>,
    literals: Vec<String>,
    /// Placeholder numbers: `$N` on PostgreSQL, 0 for each `?` elsewhere.
    placeholders: Vec<usize>,
    /// Bare words and symbols, in order.
    tokens: Vec<String>,
}

/// Splits SQL into quoted identifiers (with doubled quotes undone), single-quoted literals (raw),
/// placeholders and other tokens. Fails on an unterminated quote.
fn scan(sql: &str, d: Dialect) -> Result<Scan, String> {
    let quote = if d == Dialect::MySql { '`' } else { '"' };
    let mut out = Scan::default();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            let mut ident = String::new();
            loop {
                match chars.next() {
                    Some(ch) if ch == quote => {
                        if chars.peek() == Some(&quote) {
                            chars.next();
                            ident.push(quote);
                        } else {
                            break;
                        }
                    }
                    Some(ch) => ident.push(ch),
                    None => return Err(format!("unterminated identifier in {sql}")),
                }
            }
            out.idents.push(ident);
        } else if c == '\'' {
            let mut lit = String::new();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(ch) => lit.push(ch),
                    None => return Err(format!("unterminated literal in {sql}")),
                }
            }
            out.literals.push(lit);
        } else if c == '?' && d != Dialect::Postgres {
            out.placeholders.push(0);
        } else if c == '$' && d == Dialect::Postgres {
            let mut digits = String::new();
            while let Some(ch) = chars.peek().filter(|ch| ch.is_ascii_digit()) {
                digits.push(*ch);
                chars.next();
            }
            let n = digits
                .parse()
                .map_err(|_| format!("`$` without a number in {sql}"))?;
            out.placeholders.push(n);
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut word = String::from(c);
            while let Some(ch) = chars
                .peek()
                .filter(|ch| ch.is_ascii_alphanumeric() || **ch == '_')
            {
                word.push(*ch);
                chars.next();
            }
            out.tokens.push(word);
        } else if !c.is_whitespace() {
            out.tokens.push(c.to_string());
        }
    }
    Ok(out)
}

/// The words and symbols the builder writes for selects, counts, updates and deletes, besides
/// identifiers, literals and placeholders. The `CAST ... COLLATE` words are MySQL's sort key
/// for enum columns.
const VOCABULARY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ESCAPE",
    "E",
    "LOWER",
    "REGEXP",
    "COUNT",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "FOR",
    "UPDATE",
    "SET",
    "DELETE",
    "CAST",
    "AS",
    "CHAR",
    "CHARACTER",
    "utf8mb4",
    "COLLATE",
    "utf8mb4_bin",
    "1",
    "0",
    "(",
    ")",
    ",",
    "=",
    "<",
    ">",
    "!",
    "~",
    "*",
];

/// Checks one generated statement: identifiers are the model's, literals are the LIKE escape,
/// every other token is the builder's own, and placeholders match the bound values one to one.
fn check_stmt(m: &ModelInfo, stmt: &Stmt, d: Dialect) -> Result<(), TestCaseError> {
    let s = scan(&stmt.sql, d).map_err(TestCaseError::fail)?;
    for ident in &s.idents {
        prop_assert!(
            *ident == m.table || m.column(ident).is_some(),
            "identifier {ident:?} is neither the table nor a column of {}: {}",
            m.name(),
            stmt.sql
        );
    }
    let escape = match d {
        Dialect::Sqlite => "\\",
        Dialect::Postgres | Dialect::MySql => "\\\\",
    };
    for lit in &s.literals {
        prop_assert_eq!(lit.as_str(), escape, "unexpected literal in {}", stmt.sql);
    }
    for tok in &s.tokens {
        prop_assert!(
            VOCABULARY.contains(&tok.as_str()),
            "unexpected token {tok:?} in {}",
            stmt.sql
        );
    }
    prop_assert_eq!(
        s.placeholders.len(),
        stmt.values.len(),
        "placeholders and values differ in {}",
        stmt.sql
    );
    if d == Dialect::Postgres {
        let expected: Vec<usize> = (1..=stmt.values.len()).collect();
        prop_assert_eq!(
            &s.placeholders,
            &expected,
            "placeholders out of order in {}",
            stmt.sql
        );
    }
    Ok(())
}

/// Every string inside a JSON value (object keys excluded: they are field names and operators).
fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|x| strings_in(x, out)),
        Value::Object(map) => map.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

/// Text a value could match by accident: the vocabulary and every model's identifiers.
static INNOCENT: LazyLock<String> = LazyLock::new(|| {
    let mut words: Vec<String> = VOCABULARY.iter().map(|w| w.to_string()).collect();
    words.extend(all_column_names());
    words.extend(SCHEMA.models().map(|m| m.table.clone()));
    words.join(" ")
});

fn check_no_inlined_strings(input: &Value, stmt: &Stmt) -> Result<(), TestCaseError> {
    let mut strings = Vec::new();
    strings_in(input, &mut strings);
    for s in strings {
        if s.chars().count() < 6 || INNOCENT.contains(s.as_str()) {
            continue;
        }
        prop_assert!(
            !stmt.sql.contains(s.as_str()),
            "input string {s:?} appears in {}",
            stmt.sql
        );
    }
    Ok(())
}

fn check_refusal(err: &flowgate::Error, prefix: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(err.code(), "validation", "{:?}", err);
    let field = err.field();
    prop_assert!(
        field.is_some_and(|f| f.starts_with(prefix)),
        "field {field:?} does not start with {prefix}: {err:?}"
    );
    Ok(())
}

/// The statements a filter ends up in: a page, a count, a bulk delete and a bulk update.
fn statements(m: &ModelInfo, f: &flowgate::query::Filter, d: Dialect) -> Vec<Stmt> {
    let cols: Vec<_> = m.columns.iter().collect();
    let order = parse_order_by(m, Some(&json!("-id"))).expect("id sorts");
    let sets = vec![(m.id(), flowgate::value::Val::Null)];
    vec![
        sql::select(
            m,
            SelectSpec {
                columns: &cols,
                filter: f,
                include_deleted: false,
                order: &order,
                after: None,
                limit: Some(21),
                offset: Some(3),
                for_update: true,
            },
            d,
        ),
        sql::count(m, f, false, d),
        sql::count(m, f, true, d),
        sql::delete_where(m, f, d),
        sql::update_where(m, &sets, f, false, &[], d),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        // Failing inputs are kept here (cargo runs tests from the package root); commit them.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/filter_props.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Parsing never panics; accepted filters compile to clean SQL on every dialect; refusals are
    /// validation errors naming the filter path.
    #[test]
    fn filters_compile_to_clean_sql_or_are_refused((i, input) in model_and_filter()) {
        let m = model(i);
        match parse_filter(m, &input) {
            Ok(f) => {
                for d in DIALECTS {
                    for stmt in statements(m, &f, d) {
                        check_stmt(m, &stmt, d)?;
                        check_no_inlined_strings(&input, &stmt)?;
                    }
                }
            }
            Err(e) => check_refusal(&e, "filter")?,
        }
    }

    /// Wrapping a filter in `$and` or `$not` keeps its verdict and its bound values; refusals
    /// name the path inside the wrapper.
    #[test]
    fn wrapping_keeps_the_verdict((i, input) in model_and_filter()) {
        prop_assume!(!input.is_null());
        let m = model(i);
        let plain = parse_filter(m, &input);
        let wrapped_and = parse_filter(m, &json!({"$and": [input.clone()]}));
        let wrapped_not = parse_filter(m, &json!({"$not": input.clone()}));
        match plain {
            Ok(f) => {
                let a = wrapped_and.map_err(|e| TestCaseError::fail(format!("$and refused: {e:?}")))?;
                let n = wrapped_not.map_err(|e| TestCaseError::fail(format!("$not refused: {e:?}")))?;
                for d in DIALECTS {
                    let base = sql::count(m, &f, true, d).values;
                    prop_assert_eq!(&sql::count(m, &a, true, d).values, &base);
                    let not = sql::count(m, &n, true, d);
                    check_stmt(m, &not, d)?;
                    prop_assert_eq!(&not.values, &base);
                }
            }
            Err(e) => {
                let a = wrapped_and.expect_err("a refused filter stays refused inside $and");
                check_refusal(&a, "filter.$and[0]")?;
                let n = wrapped_not.expect_err("a refused filter stays refused inside $not");
                check_refusal(&n, "filter.$not")?;
                check_refusal(&e, "filter")?;
            }
        }
    }

    /// Deep chains of `$not` never overflow the stack: moderate nesting is accepted and very
    /// deep nesting is refused as a validation error.
    #[test]
    fn deep_nesting_is_bounded(depth in 0usize..200, i in 0..MODELS.len()) {
        let m = model(i);
        let mut f = json!({"id": {"$null": false}});
        for _ in 0..depth {
            f = json!({"$not": f});
        }
        match parse_filter(m, &f) {
            Ok(parsed) => {
                prop_assert!(depth < 100, "depth {depth} accepted");
                for d in DIALECTS {
                    check_stmt(m, &sql::count(m, &parsed, false, d), d)?;
                }
            }
            Err(e) => {
                prop_assert!(depth > 8, "depth {depth} refused: {e:?}");
                check_refusal(&e, "filter")?;
            }
        }
    }
}

/// An `order_by` value: strings of comma-separated keys, lists, or other JSON.
fn order_input() -> impl Strategy<Value = Option<Value>> {
    let key = prop_oneof![
        4 => (select(vec!["", "-", "+", " -", "--", "+-"]), select(all_column_names()))
            .prop_map(|(p, n)| format!("{p}{n}")),
        1 => select(HOSTILE).prop_map(String::from),
        1 => "\\PC{0,10}",
    ];
    let keys = prop::collection::vec(key, 0..10);
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => keys.clone().prop_map(|k| Some(Value::String(k.join(",")))),
        4 => keys.prop_map(|k| Some(Value::Array(k.into_iter().map(Value::String).collect()))),
        1 => any_value().prop_map(Some),
    ]
}

/// A cursor text: arbitrary strings, or base64 of arbitrary JSON (to get past the decoding).
fn cursor_text() -> impl Strategy<Value = String> {
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    prop_oneof![
        1 => "\\PC{0,40}",
        1 => "[A-Za-z0-9_\\-=+/ ]{0,40}",
        2 => prop::collection::vec(any_value(), 0..5).prop_map(move |v| b64(Value::Array(v))),
        2 => (any::<i64>(), prop::option::of(datetime_string()), text_value())
            .prop_map(move |(id, at, s)| b64(json!([at, s, id]))),
        1 => any_value().prop_map(b64),
    ]
}

fn sortable(m: &ModelInfo, key: &OrderBy) -> bool {
    m.column(&key.column)
        .is_some_and(|c| !matches!(c.ty(), FieldType::Json | FieldType::Bytes | FieldType::Text))
}

proptest! {
    #![proptest_config(config())]

    /// `order_by` is refused as a validation error naming `order_by`, or gives distinct sortable
    /// columns ending the order with the id, which compile to clean SQL.
    #[test]
    fn order_by_is_checked((i, input) in (0..MODELS.len(), order_input())) {
        let m = model(i);
        match parse_order_by(m, input.as_ref()) {
            Ok(keys) => {
                prop_assert!(!keys.is_empty() && keys.len() <= 9, "{keys:?}");
                prop_assert!(keys.iter().any(|k| k.column == "id"), "{keys:?}");
                for (n, k) in keys.iter().enumerate() {
                    prop_assert!(sortable(m, k), "{k:?} is not sortable");
                    prop_assert!(keys[..n].iter().all(|o| o.column != k.column), "{keys:?}");
                }
                let cols: Vec<_> = m.columns.iter().collect();
                let none = parse_filter(m, &Value::Null).expect("null filter");
                for d in DIALECTS {
                    let stmt = sql::select(m, SelectSpec {
                        columns: &cols,
                        filter: &none,
                        include_deleted: true,
                        order: &keys,
                        after: None,
                        limit: None,
                        offset: Some(5),
                        for_update: false,
                    }, d);
                    check_stmt(m, &stmt, d)?;
                }
            }
            Err(e) => check_refusal(&e, "order_by")?,
        }
    }

    /// Decoding any text as a cursor never panics: it is a validation error naming `cursor`, or a
    /// position with one value per sort key that compiles to clean SQL.
    #[test]
    fn cursors_decode_or_are_refused(
        (i, order) in (0..MODELS.len(), order_input()),
        text in cursor_text(),
    ) {
        let m = model(i);
        let keys = parse_order_by(m, order.as_ref())
            .unwrap_or_else(|_| parse_order_by(m, None).expect("the default order"));
        match Cursor::decode(m, &keys, &text) {
            Ok(cursor) => {
                prop_assert_eq!(cursor.values.len(), keys.len());
                let cols: Vec<_> = m.columns.iter().collect();
                let none = parse_filter(m, &Value::Null).expect("null filter");
                for d in DIALECTS {
                    let stmt = sql::select(m, SelectSpec {
                        columns: &cols,
                        filter: &none,
                        include_deleted: false,
                        order: &keys,
                        after: Some(&cursor),
                        limit: Some(10),
                        offset: None,
                        for_update: false,
                    }, d);
                    check_stmt(m, &stmt, d)?;
                }
            }
            Err(e) => {
                check_refusal(&e, "cursor")?;
                prop_assert_eq!(e.field(), Some("cursor"));
            }
        }
    }

    /// A cursor made from a record decodes back to the record's sort-key values.
    #[test]
    fn cursors_round_trip(
        id in any::<i64>(),
        // What a stored record can hold: no NUL, at most max_length (40) characters.
        name in text_value().prop_filter("a storable name", |s| !s.contains('\0') && s.chars().count() <= 40),
        day in prop::option::of(date_string()),
        at in prop::option::of(datetime_string()),
        desc in any::<[bool; 3]>(),
    ) {
        let m = model(0);
        let keys = vec![
            OrderBy { column: "day".into(), desc: desc[0] },
            OrderBy { column: "at".into(), desc: desc[1] },
            OrderBy { column: "name".into(), desc: desc[2] },
            OrderBy { column: "id".into(), desc: false },
        ];
        let record = json!({"id": id, "name": name, "day": day, "at": at, "qty": 5});
        let text = Cursor::encode(record.as_object().expect("an object"), &keys);
        let cursor = Cursor::decode(m, &keys, &text)
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let back: Vec<Value> = cursor.values.iter().map(|v| v.to_json()).collect();
        prop_assert_eq!(back, vec![record["day"].clone(), record["at"].clone(), record["name"].clone(), json!(id)]);
    }
}

/// The SQL checks themselves catch what they are meant to catch.
#[test]
fn the_checker_catches_bad_sql() {
    let m = model(0);
    let stmt = |sql: &str, n: usize| Stmt {
        sql: sql.into(),
        values: vec![sea_query::Value::BigInt(Some(1)); n],
    };
    let ok = |sql: &str, n: usize, d: Dialect| check_stmt(m, &stmt(sql, n), d).is_ok();
    let base = r#"SELECT "id", "name" FROM "items" WHERE "name" LIKE ? ESCAPE '\' AND "deleted_at" IS NULL"#;
    assert!(ok(base, 1, Dialect::Sqlite));
    assert!(ok(
        r#"SELECT COUNT(*) FROM "items" WHERE LOWER("name") LIKE $1 ESCAPE E'\\' AND (1 = 1) AND "qty" <> $2"#,
        2,
        Dialect::Postgres
    ));
    assert!(ok(
        r"SELECT `id` FROM `items` WHERE `name` LIKE ? ESCAPE '\\' LIMIT ? FOR UPDATE",
        2,
        Dialect::MySql
    ));
    // Placeholders and values differ.
    assert!(!ok(base, 2, Dialect::Sqlite));
    assert!(!ok(base, 0, Dialect::Sqlite));
    assert!(!ok(
        r#"SELECT "id" FROM "items" WHERE "qty" > $2 AND "qty" < $1"#,
        2,
        Dialect::Postgres
    ));
    // An inlined value, as a literal or as bare text.
    assert!(!ok(
        r#"SELECT "id" FROM "items" WHERE "name" = 'x'"#,
        0,
        Dialect::Sqlite
    ));
    assert!(!ok(
        r#"SELECT "id" FROM "items" WHERE "qty" = 5"#,
        0,
        Dialect::Sqlite
    ));
    assert!(!ok(
        r#"SELECT "id" FROM "items"; DROP TABLE "items""#,
        0,
        Dialect::Sqlite
    ));
    // Identifiers that are not the model's, including a quote smuggled into one.
    assert!(!ok(r#"SELECT "password" FROM "items""#, 0, Dialect::Sqlite));
    assert!(!ok(
        r#"SELECT "id"";DROP" FROM "items""#,
        0,
        Dialect::Sqlite
    ));
    assert!(!ok(
        r#"SELECT "id" FROM "notebook_entries""#,
        0,
        Dialect::Postgres
    ));
    assert!(!ok("SELECT `id``x` FROM `items`", 0, Dialect::MySql));
    assert!(!ok(r#"SELECT "id FROM items"#, 0, Dialect::Sqlite));
    // An input string found verbatim in the SQL.
    let input = json!({"name": {"$eq": "hello world"}});
    let inlined = stmt(r#"SELECT "id" FROM "items" WHERE "name" = hello world"#, 0);
    assert!(check_no_inlined_strings(&input, &inlined).is_err());
    assert!(check_no_inlined_strings(&input, &stmt(base, 1)).is_ok());
}

/// Pattern operators bind a value each, so they count towards the filter's value limit: a
/// filter is refused rather than exceed a database's parameter limit (SQLite's is 32,766).
#[test]
fn patterns_count_towards_the_value_limit() {
    let m = model(0);
    let patterns = |n: usize| json!({"$and": vec![json!({"name": {"$contains": "a"}}); n]});
    let f = parse_filter(m, &patterns(100)).expect("a hundred patterns are fine");
    assert_eq!(sql::count(m, &f, true, Dialect::Sqlite).values.len(), 100);
    let Err(err) = parse_filter(m, &patterns(40_000)) else {
        panic!("a filter binding 40,000 values was accepted");
    };
    assert_eq!(err.code(), "validation");
    assert!(
        err.field().is_some_and(|f| f.starts_with("filter.$and[")),
        "{err:?}"
    );
}
