//! Dotted paths into JSON: `record.id`, `records.0.title`. A connection reads its `output` path
//! from the source node's result and writes the value at its `input` path into the target's params.

use serde_json::{Map, Value};

/// A parsed dotted path; the empty path is the whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath {
    segs: Vec<String>,
}

impl JsonPath {
    /// Parses `a.b.0`; empty segments (`a..b`, a trailing dot) are errors.
    pub(crate) fn parse(s: &str) -> Result<JsonPath, String> {
        if s.is_empty() {
            return Ok(JsonPath { segs: Vec::new() });
        }
        let segs: Vec<String> = s.split('.').map(str::to_string).collect();
        if segs.iter().any(String::is_empty) {
            return Err(format!("`{s}` is not a path: it has an empty segment"));
        }
        Ok(JsonPath { segs })
    }

    /// The segments.
    pub(crate) fn segs(&self) -> &[String] {
        &self.segs
    }

    /// The path without its first segment.
    pub(crate) fn tail(&self) -> &[String] {
        self.segs.get(1..).unwrap_or(&[])
    }

    /// Whether the path is empty (the whole value).
    pub(crate) fn is_empty(&self) -> bool {
        self.segs.is_empty()
    }
}

/// The value at `segs` inside `v`: object keys by name, array items by index.
pub(crate) fn get<'v>(v: &'v Value, segs: &[String]) -> Option<&'v Value> {
    segs.iter().try_fold(v, |cur, seg| match cur {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Puts `value` at `segs` inside `target`, creating objects on the way. An existing array is
/// indexed by number (the item must exist); a string, number, boolean or null in the way is an
/// error.
pub(crate) fn set(target: &mut Value, segs: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = segs.split_last() else {
        *target = value;
        return Ok(());
    };
    let mut cur = target;
    for seg in parents {
        cur = match cur {
            Value::Object(m) => m
                .entry(seg.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(a) => index(a, seg)?,
            other => {
                return Err(format!(
                    "cannot set `{seg}` inside {}",
                    crate::value::kind_of(other)
                ));
            }
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => *index(a, last)? = value,
        other => {
            return Err(format!(
                "cannot set `{last}` inside {}",
                crate::value::kind_of(other)
            ));
        }
    }
    Ok(())
}

fn index<'a>(a: &'a mut [Value], seg: &str) -> Result<&'a mut Value, String> {
    let len = a.len();
    seg.parse::<usize>()
        .ok()
        .and_then(|i| a.get_mut(i))
        .ok_or_else(|| format!("`{seg}` is not an index of an array of {len} items"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        JsonPath::parse(s).unwrap().segs().to_vec()
    }

    #[test]
    fn get_reads_objects_and_arrays() {
        let v = json!({"record": {"id": 7}, "records": [{"title": "a"}]});
        assert_eq!(get(&v, &p("record.id")), Some(&json!(7)));
        assert_eq!(get(&v, &p("records.0.title")), Some(&json!("a")));
        assert_eq!(get(&v, &p("")), Some(&v));
        assert_eq!(get(&v, &p("records.1")), None);
        assert_eq!(get(&v, &p("record.id.x")), None);
        assert!(JsonPath::parse("a..b").is_err());
    }

    #[test]
    fn set_creates_objects() {
        let mut v = json!({"fields": {"a": 1}, "data": [{}]});
        set(&mut v, &p("fields.user_id"), json!(3)).unwrap();
        set(&mut v, &p("x.y"), json!(true)).unwrap();
        set(&mut v, &p("data.0.z"), json!(1)).unwrap();
        assert_eq!(
            v,
            json!({"fields": {"a": 1, "user_id": 3}, "data": [{"z": 1}], "x": {"y": true}})
        );
        assert!(set(&mut v, &p("fields.a.b"), json!(1)).is_err());
        assert!(set(&mut v, &p("data.3"), json!(1)).is_err());
    }
}
