//! Typed values: JSON checked against a field type, and back to JSON.
//!
//! Every value that reaches SQL passes through [`coerce`] first, so a wrong type is a validation
//! error naming the field, never a database error. The JSON forms are the same on every database:
//! decimals as strings, datetimes as RFC 3339 UTC with microseconds, bytes as base64.

use crate::model::FieldType;
use base64::Engine;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, SubsecRound, Timelike, Utc,
};
use rust_decimal::Decimal;
use serde_json::Value;

/// A value checked against a field type.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An exact decimal.
    Decimal(Decimal),
    /// Text (string, text and enum fields).
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// An instant, truncated to microseconds.
    DateTime(DateTime<Utc>),
    /// A UUID.
    Uuid(uuid::Uuid),
    /// A JSON document.
    Json(Value),
    /// Binary data.
    Bytes(Vec<u8>),
}

/// The options of a field that coercion checks.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// The field type.
    pub ty: FieldType,
    /// The longest allowed string, in characters.
    pub max_length: Option<u32>,
    /// The allowed values of an enum.
    pub values: &'a [String],
}

impl<'a> Shape<'a> {
    /// A shape with no options.
    pub fn of(ty: FieldType) -> Shape<'static> {
        Shape {
            ty,
            max_length: None,
            values: &[],
        }
    }
}

/// Formats an instant the one way Flowgate writes it: `2026-01-02T03:04:05.000006Z`.
/// The fixed width keeps text comparison equal to time comparison on SQLite.
pub fn format_datetime(dt: &DateTime<Utc>) -> String {
    // The common case written directly (chrono's general formatter costs several times more, and
    // bulk inserts format two or three datetimes per row); the same text as
    // `to_rfc3339_opts(SecondsFormat::Micros, true)`, which handles the rest.
    let naive = dt.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let year = date.year();
    let micros = time.nanosecond() / 1000;
    if !(0..=9999).contains(&year) || micros >= 1_000_000 {
        return dt.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    let secs = time.num_seconds_from_midnight();
    let mut out = *CANONICAL_DATETIME;
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year as u32);
    put(5, 2, date.month());
    put(8, 2, date.day());
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    put(20, 6, micros);
    // Digits and the shape's ASCII punctuation: always UTF-8.
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
}

/// The shape of a datetime as Flowgate writes it (and stores it on SQLite): RFC 3339, UTC,
/// microseconds; `0` stands for any digit.
const CANONICAL_DATETIME: &[u8; 27] = b"0000-00-00T00:00:00.000000Z";

/// Whether `s` has the shape of [`format_datetime`]'s output (digits unchecked for range).
pub fn is_canonical_datetime(s: &str) -> bool {
    s.len() == CANONICAL_DATETIME.len()
        && s.bytes()
            .zip(CANONICAL_DATETIME)
            .all(|(b, &want)| match want {
                b'0' => b.is_ascii_digit(),
                other => b == other,
            })
}

/// Parses text of [`format_datetime`]'s shape without chrono's general parser; None when the
/// shape or a field is out of range.
fn parse_canonical_datetime(s: &str) -> Option<DateTime<Utc>> {
    if !is_canonical_datetime(s) {
        return None;
    }
    let b = s.as_bytes();
    let num = |at: usize, width: usize| {
        b[at..at + width]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    NaiveDate::from_ymd_opt(num(0, 4) as i32, num(5, 2), num(8, 2))?
        .and_hms_micro_opt(num(11, 2), num(14, 2), num(17, 2), num(20, 6))
        .map(|n| n.and_utc())
}

/// The current instant, truncated to microseconds (what every database stores).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Checks a JSON value against a field shape. `null` becomes [`Val::Null`]; whether null is
/// allowed is the caller's question. The error is a reason in lowercase.
pub fn coerce(shape: Shape<'_>, value: &Value) -> Result<Val, String> {
    if value.is_null() {
        return Ok(Val::Null);
    }
    let ty = shape.ty;
    let want = |what: &str| format!("expected {what}, got {}", kind_of(value));
    match ty {
        FieldType::String | FieldType::Text | FieldType::Enum => {
            let s = value.as_str().ok_or_else(|| want("a string"))?;
            check_text(s)?;
            if let Some(max) = shape.max_length {
                let n = s.chars().count();
                if n > max as usize {
                    return Err(format!("longer than max_length {max} ({n} characters)"));
                }
            }
            if ty == FieldType::Enum && !shape.values.iter().any(|v| v == s) {
                return Err(format!("`{s}` is not one of {}", shape.values.join(", ")));
            }
            Ok(Val::Text(s.to_string()))
        }
        FieldType::Integer => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().and_then(whole))
                .map(Val::Int)
                .ok_or_else(|| want("an integer")),
            _ => Err(want("an integer")),
        },
        FieldType::Float => value
            .as_f64()
            .map(Val::Float)
            .ok_or_else(|| want("a number")),
        FieldType::Decimal => {
            let text = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err(want("a decimal number or string")),
            };
            let d = Decimal::from_str_exact(&text)
                .or_else(|_| Decimal::from_scientific(&text))
                .map_err(|_| {
                    if looks_numeric(&text) {
                        inexact_decimal(&text)
                    } else {
                        want("a decimal number or string")
                    }
                })?
                .normalize();
            if !same_decimal(&text, &d) {
                return Err(inexact_decimal(&text));
            }
            Ok(Val::Decimal(d))
        }
        FieldType::Boolean => value
            .as_bool()
            .map(Val::Bool)
            .ok_or_else(|| want("a boolean")),
        FieldType::Date => {
            let s = value
                .as_str()
                .ok_or_else(|| want("a date string (YYYY-MM-DD)"))?;
            // `%Y` alone takes any number of digits: `26-1-1` would be the year 26.
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|d| d.format("%Y-%m-%d").to_string() == s)
                .map(Val::Date)
                .ok_or_else(|| format!("`{s}` is not a date (YYYY-MM-DD)"))
        }
        FieldType::Datetime => {
            let s = value
                .as_str()
                .ok_or_else(|| want("an RFC 3339 datetime string"))?;
            parse_datetime(s)
                .map(|d| Val::DateTime(d.trunc_subsecs(6)))
                .ok_or_else(|| format!("`{s}` is not an RFC 3339 datetime"))
        }
        FieldType::Uuid => {
            let s = value.as_str().ok_or_else(|| want("a UUID string"))?;
            uuid::Uuid::parse_str(s)
                .map(Val::Uuid)
                .map_err(|_| format!("`{s}` is not a UUID"))
        }
        FieldType::Json => {
            check_json(value)?;
            Ok(Val::Json(value.clone()))
        }
        FieldType::Bytes => {
            let s = value.as_str().ok_or_else(|| want("a base64 string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Val::Bytes)
                .map_err(|_| "not valid base64".to_string())
        }
    }
}

/// A float that is a whole number within `i64` (`527.0`, as some JSON writers print every
/// number): JSON Schema's `integer` admits it, so the server takes it too.
fn whole(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every whole float below it in magnitude fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && f > -LIMIT - 1.0 && f < LIMIT).then_some(f as i64)
}

/// Like [`coerce`] for an id: integer ids also accept a string of digits (ids arrive as path
/// segments and CLI arguments).
///
/// A bad integer id is named by its value (got `1.5`), not its JSON kind, so that a path
/// segment `1.5` and a JSON number `1.5` get the same message.
pub fn coerce_id(ty: FieldType, value: &Value) -> Result<Val, String> {
    if value.is_null() {
        return Err("id must not be null".into());
    }
    if ty == FieldType::Integer {
        let parsed = match value {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        return parsed
            .map(Val::Int)
            .ok_or_else(|| format!("expected an integer id, got `{}`", shown(value)));
    }
    coerce(Shape::of(ty), value)
}

/// A value as an error message names it: text as it is, anything else as compact JSON, cut
/// after 40 characters. Text channels (paths, query strings, CLI arguments) and JSON channels
/// then word the same bad input the same way.
pub(crate) fn shown(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// What a JSON value may hold to come back from every database exactly as it went in: no NUL
/// character in a string or a key (PostgreSQL's `jsonb` cannot store one, so no database takes
/// one). Numbers are kept as the `f64` or 64-bit integer they were read as, which every database
/// gives back unchanged (serde_json's `float_roundtrip` reads back the long decimal expansion
/// PostgreSQL returns for a large float).
fn check_json(value: &Value) -> Result<(), String> {
    let nul = || Err("text in a JSON value must not contain NUL characters".to_string());
    match value {
        Value::String(s) if s.contains('\0') => nul(),
        Value::Array(items) => items.iter().try_for_each(check_json),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                return nul();
            }
            check_json(v)
        }),
        _ => Ok(()),
    }
}

/// Whether a text is a number in some notation (so a decimal that cannot hold it is refused as
/// inexact, not as the wrong kind of value).
fn looks_numeric(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit())
}

fn inexact_decimal(text: &str) -> String {
    format!(
        "`{}` cannot be stored exactly as a decimal (at most 28 digits after the point and 28 \
         significant digits)",
        shown(&Value::String(text.to_string()))
    )
}

/// Whether `d` holds exactly the number `text` wrote (plain or scientific notation): a decimal
/// that would be rounded on the way in is refused rather than stored as something else (`1e-40`
/// as `0`).
fn same_decimal(text: &str, d: &Decimal) -> bool {
    /// Sign, significant digits and the power of ten of the last one: `-0.0120` is
    /// (true, "12", -3).
    fn parts(text: &str) -> Option<(bool, String, i64)> {
        let t = text.trim();
        let (neg, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (mantissa, exp) = match t.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i64>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if !(int.chars().chain(frac.chars())).all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let mut power = exp - frac.len() as i64;
        let trimmed = digits.trim_end_matches('0');
        power += (digits.len() - trimmed.len()) as i64;
        let significant = trimmed.trim_start_matches('0').to_string();
        if significant.is_empty() {
            return Some((false, String::new(), 0));
        }
        Some((neg, significant, power))
    }
    parts(text).is_some_and(|p| parts(&d.to_string()) == Some(p))
}

fn check_text(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        return Err("text must not contain NUL characters".into());
    }
    Ok(())
}

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Some(d) = parse_canonical_datetime(s) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    None
}

/// The JSON type of a value, for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Val {
    /// The JSON form every channel returns.
    pub fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::from(*i),
            Val::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Val::Decimal(d) => Value::String(d.normalize().to_string()),
            Val::Text(s) => Value::String(s.clone()),
            Val::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            Val::DateTime(d) => Value::String(format_datetime(d)),
            Val::Uuid(u) => Value::String(u.hyphenated().to_string()),
            Val::Json(v) => v.clone(),
            Val::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        }
    }

    /// The JSON form, moving text and JSON values instead of copying them.
    pub fn into_json(self) -> Value {
        match self {
            Val::Text(s) => Value::String(s),
            Val::Json(v) => v,
            other => other.to_json(),
        }
    }

    /// Whether this is SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }
}

/// The JSON form of [`Val::to_json`], encoded without building a [`Value`] (a record read for
/// the REST API is encoded straight from its row).
impl serde::Serialize for Val {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Val::Float(_) => s.serialize_unit(),
            Val::Text(t) => s.serialize_str(t),
            Val::DateTime(d) => s.serialize_str(&format_datetime(d)),
            Val::Json(v) => serde::Serialize::serialize(v, s),
            other => serde::Serialize::serialize(&other.to_json(), s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(ty: FieldType, input: Value) -> Result<Value, String> {
        coerce(Shape::of(ty), &input).map(|v| v.to_json())
    }

    #[test]
    fn encoding_a_value_gives_the_text_of_its_json_form() {
        let vals = [
            Val::Null,
            Val::Bool(true),
            Val::Int(-42),
            Val::Float(1.5),
            Val::Float(0.1 + 0.2),
            Val::Float(f64::NAN),
            Val::Float(f64::INFINITY),
            Val::Decimal(Decimal::from_str_exact("12.3400").unwrap()),
            Val::Text("quote \" backslash \\ newline \n tab \t é \u{1}".into()),
            Val::Date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()),
            Val::DateTime(DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap()),
            Val::Uuid(uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
            )),
            Val::Json(json!({"b": [1, 2.5, null, "x"], "a": {"c": true}})),
            Val::Bytes(vec![0, 1, 254, 255]),
        ];
        for v in vals {
            let direct = serde_json::to_string(&v).unwrap();
            let via_value = serde_json::to_string(&v.to_json()).unwrap();
            assert_eq!(direct, via_value, "{v:?}");
        }
    }

    #[test]
    fn datetimes_format_and_parse_like_chrono() {
        let mut secs: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
        let mut micros: u32 = 0;
        while secs < 253_402_300_800 {
            // up to 9999-12-31
            let dt = DateTime::from_timestamp(secs, micros * 1000).unwrap();
            let text = format_datetime(&dt);
            assert_eq!(text, dt.to_rfc3339_opts(SecondsFormat::Micros, true));
            assert_eq!(parse_canonical_datetime(&text), Some(dt));
            assert_eq!(parse_datetime(&text), Some(dt));
            secs += 7_777_777 + i64::from(micros % 97);
            micros = (micros * 7 + 123_457) % 1_000_000;
        }
        // Out of the common range: chrono's own formatting.
        let far = DateTime::from_timestamp(253_402_300_800 + 86_400, 0).unwrap();
        assert_eq!(
            format_datetime(&far),
            far.to_rfc3339_opts(SecondsFormat::Micros, true)
        );
        // The right shape, an impossible date: not parsed by the fast path, refused.
        assert_eq!(
            parse_canonical_datetime("2026-02-30T00:00:00.000000Z"),
            None
        );
        assert_eq!(parse_datetime("2026-02-30T00:00:00.000000Z"), None);
        assert!(!is_canonical_datetime("2026-02-03T00:00:00Z"));
    }

    #[test]
    fn round_trips_every_type() {
        assert_eq!(check(FieldType::Integer, json!(5)), Ok(json!(5)));
        assert_eq!(check(FieldType::Decimal, json!("12.50")), Ok(json!("12.5")));
        assert_eq!(check(FieldType::Integer, json!(527.0)), Ok(json!(527)));
        assert_eq!(check(FieldType::Integer, json!(-0.0)), Ok(json!(0)));
        assert!(check(FieldType::Integer, json!(527.5)).is_err());
        assert!(check(FieldType::Integer, json!(9.3e18)).is_err());
        assert_eq!(check(FieldType::Decimal, json!(0.1)), Ok(json!("0.1")));
        assert_eq!(
            check(
                FieldType::Datetime,
                json!("2026-01-02T04:04:05.1234567+01:00")
            ),
            Ok(json!("2026-01-02T03:04:05.123456Z"))
        );
        assert_eq!(
            check(FieldType::Date, json!("2026-02-28")),
            Ok(json!("2026-02-28"))
        );
        assert_eq!(check(FieldType::Bytes, json!("AAEC")), Ok(json!("AAEC")));
        assert_eq!(
            check(FieldType::Json, json!({"a": [1]})),
            Ok(json!({"a": [1]}))
        );
    }

    #[test]
    fn refuses_wrong_types_with_a_reason() {
        assert_eq!(
            check(FieldType::Integer, json!("5")),
            Err("expected an integer, got a string".into())
        );
        assert_eq!(
            check(FieldType::Integer, json!(1.5)),
            Err("expected an integer, got a number".into())
        );
        assert!(check(FieldType::Date, json!("2026-02-30")).is_err());
        assert!(check(FieldType::Date, json!("26-1-1")).is_err());
        assert!(check(FieldType::Date, json!("2026-1-01")).is_err());
        assert!(check(FieldType::Uuid, json!("nope")).is_err());
        assert!(check(FieldType::String, json!("a\u{0}b")).is_err());
        let values = vec!["open".to_string()];
        let shape = Shape {
            ty: FieldType::Enum,
            max_length: None,
            values: &values,
        };
        assert!(
            coerce(shape, &json!("shut"))
                .unwrap_err()
                .contains("not one of open")
        );
    }

    #[test]
    fn bad_ids_read_alike_as_text_and_as_json() {
        let id = |v: Value| coerce_id(FieldType::Integer, &v);
        assert_eq!(id(json!("7")), Ok(Val::Int(7)));
        assert_eq!(id(json!(7)), Ok(Val::Int(7)));
        for (text, json) in [("1.5", json!(1.5)), ("true", json!(true))] {
            let expected = format!("expected an integer id, got `{text}`");
            assert_eq!(id(json!(text)), Err(expected.clone()));
            assert_eq!(id(json), Err(expected));
        }
        assert_eq!(id(Value::Null), Err("id must not be null".into()));
        assert_eq!(
            shown(&json!("x".repeat(50))),
            format!("{}…", "x".repeat(40))
        );
    }
}
