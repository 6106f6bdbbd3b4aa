//! An operation's params as a channel hands them over: a JSON value, or the JSON body of a bulk
//! write whose records stay text until they are written.
//!
//! A bulk write of a 25 MB body parsed into a `serde_json::Value` tree takes several times the
//! body (a map, a key and a value allocation per field). [`Params::from_json_body`] parses the
//! body once, checking all of it as JSON, but keeps each record of `data` only as its place in
//! the body; the store parses a record when it checks it against the model, one chunk of rows at
//! a time. The body, the places (8 bytes a record) and one chunk of rows are all a call holds.

use crate::operation::OpKind;
use bytes::Bytes;
use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::fmt;

/// The most records one bulk call takes.
pub(crate) const MAX_RECORDS: usize = 100_000;

/// The params of an operation.
#[derive(Debug, Clone)]
pub enum Params {
    /// Params as a JSON value: an object, or null for none. Every channel can hand these over.
    Json(Value),
    /// A bulk write's JSON body (`bulk_create`, `bulk_upsert`) with its `data` records as text.
    Body(BulkBody),
}

impl From<Value> for Params {
    fn from(v: Value) -> Params {
        Params::Json(v)
    }
}

impl Params {
    /// Parses a request body (JSON text; an empty body is null, whitespace alone is malformed
    /// JSON) into the params of operation
    /// `op`. For `bulk_create` and `bulk_upsert`, when the body is an object whose `data` is a
    /// list, the records stay text (checked as JSON, parsed again one by one when written);
    /// everything else becomes a [`Params::Json`] value. The errors are serde_json's for the
    /// whole body, as `serde_json::from_slice` gives them.
    pub fn from_json_body(op: OpKind, body: Bytes) -> serde_json::Result<Params> {
        if body.is_empty() {
            return Ok(Params::Json(Value::Null));
        }
        let Some(&first) = body.iter().find(|b| !b.is_ascii_whitespace()) else {
            return serde_json::from_slice(&body).map(Params::Json);
        };
        let bulk = matches!(op, OpKind::BulkCreate | OpKind::BulkUpsert);
        // Spans are 32-bit: a body of 4 GiB or more (no server allows one) is parsed whole.
        if !bulk || first != b'{' || body.len() > u32::MAX as usize {
            return serde_json::from_slice(&body).map(Params::Json);
        }
        let mut de = serde_json::Deserializer::from_slice(&body);
        let top = de.deserialize_map(TopVisitor {
            base: body.as_ptr() as usize,
        })?;
        de.end()?;
        let (params, spans) = top;
        Ok(match spans {
            Some((spans, len)) => Params::Body(BulkBody {
                params,
                records: RecordsText {
                    text: body,
                    spans,
                    len,
                },
            }),
            None => Params::Json(Value::Object(params)),
        })
    }

    /// Whether the params ask for a dry run (`dry_run: true`).
    pub fn is_dry_run(&self) -> bool {
        self.borrow().is_dry_run()
    }

    pub(crate) fn borrow(&self) -> ParamsRef<'_> {
        match self {
            Params::Json(v) => ParamsRef::Json(v),
            Params::Body(b) => ParamsRef::Body(b),
        }
    }
}

/// [`Params`] borrowed: what the store's operations read.
#[derive(Clone, Copy)]
pub(crate) enum ParamsRef<'a> {
    Json(&'a Value),
    Body(&'a BulkBody),
}

impl ParamsRef<'_> {
    pub(crate) fn is_dry_run(self) -> bool {
        let v = match self {
            ParamsRef::Json(v) => v.get("dry_run"),
            ParamsRef::Body(b) => b.params.get("dry_run"),
        };
        v.and_then(Value::as_bool).unwrap_or(false)
    }
}

/// A bulk write's params (every one but `data`) and its records as text.
#[derive(Debug, Clone)]
pub struct BulkBody {
    pub(crate) params: Map<String, Value>,
    pub(crate) records: RecordsText,
}

impl BulkBody {
    /// The params other than `data`.
    pub fn params(&self) -> &Map<String, Value> {
        &self.params
    }

    /// The number of records in `data`.
    pub fn len(&self) -> usize {
        self.records.len
    }

    /// Whether `data` is empty.
    pub fn is_empty(&self) -> bool {
        self.records.len == 0
    }
}

/// The records of a `data` list, each kept as its place (start, length) in the body. Places are
/// kept for the first [`MAX_RECORDS`] records only; the others are counted (a call with more is
/// refused, naming the count).
#[derive(Clone)]
pub(crate) struct RecordsText {
    text: Bytes,
    spans: Vec<(u32, u32)>,
    len: usize,
}

impl fmt::Debug for RecordsText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordsText({} records)", self.len)
    }
}

impl RecordsText {
    /// The number of records.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Parses record `i` (one of the first [`MAX_RECORDS`]). It was checked as JSON text with
    /// the body; parsing can still refuse what only building a value checks (a number out of
    /// range, nesting deeper than 128).
    pub(crate) fn get(&self, i: usize) -> serde_json::Result<Value> {
        let (start, len) = self.spans[i];
        let (start, len) = (start as usize, len as usize);
        serde_json::from_slice(&self.text[start..start + len])
    }
}

/// The body's top-level object: params as values, `data` as places when it is a list.
struct TopVisitor {
    base: usize,
}

type Spans = (Vec<(u32, u32)>, usize);

impl<'de> Visitor<'de> for TopVisitor {
    type Value = (Map<String, Value>, Option<Spans>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params = Map::new();
        let mut records = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "data" {
                // A repeated key: the last one wins, as in a parsed value.
                params.shift_remove("data");
                records = None;
                match map.next_value_seed(DataSeed { base: self.base })? {
                    Data::Records(spans) => records = Some(spans),
                    Data::Other(v) => {
                        params.insert(key, v);
                    }
                }
            } else {
                let v: Value = map.next_value()?;
                params.insert(key, v);
            }
        }
        Ok((params, records))
    }
}

enum Data {
    Records(Spans),
    Other(Value),
}

/// `data`: a list becomes the places of its elements; anything else a value.
struct DataSeed {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Data, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed {
    type Value = Data;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Data, A::Error> {
        let mut spans = Vec::new();
        let mut len = 0usize;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if len < MAX_RECORDS {
                let text = raw.get();
                let start = text.as_ptr() as usize - self.base;
                spans.push((start as u32, text.len() as u32));
            }
            len += 1;
        }
        Ok(Data::Records((spans, len)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Data, A::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Data::Other)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Data, E> {
        Ok(Data::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Data, E> {
        Ok(Data::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Data, E> {
        Ok(Data::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Data, E> {
        Ok(Data::Other(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Data, E> {
        Ok(Data::Other(Value::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Data, E> {
        Ok(Data::Other(Value::String(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Data, E> {
        Ok(Data::Other(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(op: OpKind, text: &str) -> serde_json::Result<Params> {
        Params::from_json_body(op, Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn bulk_records_stay_text_and_read_back() {
        let p = parse(
            OpKind::BulkCreate,
            r#" {"atomic": false, "data": [ {"a": 1} , [2], "x\u00e9" ], "dry_run": true} "#,
        )
        .unwrap();
        let Params::Body(b) = &p else { panic!("{p:?}") };
        assert_eq!(b.len(), 3);
        assert_eq!(
            Value::Object(b.params.clone()),
            json!({"atomic": false, "dry_run": true})
        );
        assert!(p.is_dry_run());
        assert_eq!(b.records.get(0).unwrap(), json!({"a": 1}));
        assert_eq!(b.records.get(1).unwrap(), json!([2]));
        assert_eq!(b.records.get(2).unwrap(), json!("xé"));
    }

    #[test]
    fn other_bodies_are_values() {
        for (op, text) in [
            (OpKind::Create, r#"{"data": [1]}"#),
            (OpKind::BulkCreate, r#"{"data": {"a": [1]}, "x": 1}"#),
            (OpKind::BulkCreate, r#"{"data": "text"}"#),
            (OpKind::BulkCreate, r#"{"data": null}"#),
            (OpKind::BulkUpsert, r#"[1, 2]"#),
            (OpKind::BulkCreate, r#"{"data": [1], "data": 2.5}"#),
        ] {
            let p = parse(op, text).unwrap();
            let want: Value = serde_json::from_str(text).unwrap();
            match p {
                Params::Json(v) => assert_eq!(v, want, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // An empty body is no params; whitespace alone is malformed, as serde_json says.
        assert!(matches!(
            parse(OpKind::BulkCreate, "").unwrap(),
            Params::Json(Value::Null)
        ));
        assert!(parse(OpKind::BulkCreate, " \n").is_err());
    }

    #[test]
    fn malformed_bodies_fail_as_a_whole_parse_does() {
        for text in [
            r#"{"data": [{"a": 1}, {"a": }]}"#,
            r#"{"data": [{"a": 1}]"#,
            r#"{"data": [{"a": 1}]} x"#,
            r#"{"data": [{"a": 1},]}"#,
            r#"{"data": [], "b": tru}"#,
            r#"{"data": [1, "\u12"]}"#,
            r#"{"data": 1e999}"#,
        ] {
            let whole = serde_json::from_str::<Value>(text).unwrap_err().to_string();
            let ours = parse(OpKind::BulkCreate, text).unwrap_err().to_string();
            assert_eq!(ours, whole, "{text}");
        }
    }

    #[test]
    fn what_only_a_value_checks_fails_when_the_record_is_read() {
        // Text that is JSON but no value: the record reads as an error, not the body.
        let p = parse(
            OpKind::BulkCreate,
            r#"{"data": [{"n": 1e999}, "\ud800", {"a": 1}]}"#,
        )
        .unwrap();
        let Params::Body(b) = p else { panic!() };
        assert!(b.records.get(0).is_err());
        assert!(b.records.get(1).is_err());
        assert_eq!(b.records.get(2).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn records_past_the_limit_are_counted_not_kept() {
        let text = format!(r#"{{"data": [{}1]}}"#, "1,".repeat(MAX_RECORDS + 4));
        let Params::Body(b) = parse(OpKind::BulkUpsert, &text).unwrap() else {
            panic!()
        };
        assert_eq!(b.len(), MAX_RECORDS + 5);
        assert_eq!(b.records.spans.len(), MAX_RECORDS);
    }
}
