//! References to workflow inputs inside node params: `${name}`, with `{{name}}` as an alias.
//!
//! A string that is exactly one reference (`"${age}"`) becomes the input's value with its type (a
//! number stays a number, an object stays an object). A reference inside a longer string
//! (`"Hello ${name}!"`) is substituted as text: strings as they are, `null` as nothing, numbers and
//! booleans in their JSON form, objects and arrays as JSON text. `$${` writes a literal `${`.
//! Anything else that opens a reference (`${`, `{{`) and does not form one is an error: an
//! unresolved reference never passes through as a literal string.
//!
//! Params are compiled once, at build time, into a [`Param`] tree; subtrees without references
//! stay constant JSON and are cloned as they are at run time.

use serde_json::{Map, Value};

/// Node params with their references found.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    /// JSON without references.
    Const(Value),
    /// An object with at least one reference somewhere below.
    Object(Vec<(String, Param)>),
    /// An array with at least one reference somewhere below.
    Array(Vec<Param>),
    /// A string that is exactly one reference: the input's value, with its type.
    Whole(String),
    /// A string with references inside it: text.
    Text(Vec<Part>),
}

/// A piece of a string with embedded references.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Lit(String),
    Ref(String),
}

/// One reference, where it is: the dotted param path and whether it is the whole string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RefSite {
    pub(crate) path: String,
    pub(crate) name: String,
    pub(crate) whole: bool,
}

/// Whether `name` is a valid input name: ASCII letters, digits and `_`, not starting with a digit.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Compiles params. On error, returns the dotted path of the bad string and the reason.
pub(crate) fn compile(value: &Value) -> Result<Param, (String, String)> {
    let mut path = Vec::new();
    compile_at(value, &mut path).map_err(|reason| (path.join("."), reason))
}

fn compile_at(value: &Value, path: &mut Vec<String>) -> Result<Param, String> {
    match value {
        Value::String(s) => compile_str(s),
        Value::Object(map) => {
            let mut items = Vec::with_capacity(map.len());
            let mut any = false;
            for (k, v) in map {
                path.push(k.clone());
                let p = compile_at(v, path)?;
                path.pop();
                any |= !matches!(p, Param::Const(_));
                items.push((k.clone(), p));
            }
            Ok(if any {
                Param::Object(items)
            } else {
                Param::Const(value.clone())
            })
        }
        Value::Array(list) => {
            let mut items = Vec::with_capacity(list.len());
            let mut any = false;
            for (i, v) in list.iter().enumerate() {
                path.push(i.to_string());
                let p = compile_at(v, path)?;
                path.pop();
                any |= !matches!(p, Param::Const(_));
                items.push(p);
            }
            Ok(if any {
                Param::Array(items)
            } else {
                Param::Const(value.clone())
            })
        }
        other => Ok(Param::Const(other.clone())),
    }
}

/// Splits a string into literal text and references.
pub(crate) fn parse_str(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("$${") {
            lit.push_str("${");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after
                .find('}')
                .ok_or_else(|| format!("`${{` is not closed by `}}` in `{s}`"))?;
            let name = &after[..end];
            check_ref(name, &format!("${{{name}}}"))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Ref(name.to_string()));
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix("{{") {
            let end = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` is not closed by `}}}}` in `{s}`"))?;
            let name = after[..end].trim();
            check_ref(name, &format!("{{{{{}}}}}", &after[..end]))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Ref(name.to_string()));
            rest = &after[end + 2..];
        } else {
            let c = rest.chars().next().expect("not empty");
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

fn check_ref(name: &str, written: &str) -> Result<(), String> {
    if is_name(name) {
        return Ok(());
    }
    if name.contains('.') && name.split('.').all(|s| !s.is_empty()) {
        return Err(format!(
            "`{written}` is not a reference: a reference names a workflow input; to use another \
             node's result, connect it (`connections`)"
        ));
    }
    Err(format!(
        "`{written}` is not a reference: input names are ASCII letters, digits and `_`"
    ))
}

fn compile_str(s: &str) -> Result<Param, String> {
    if !s.contains("${") && !s.contains("{{") {
        return Ok(Param::Const(Value::String(s.to_string())));
    }
    let mut parts = parse_str(s)?;
    Ok(match parts.as_slice() {
        [Part::Ref(_)] => match parts.pop() {
            Some(Part::Ref(name)) => Param::Whole(name),
            _ => unreachable!("one reference"),
        },
        _ if parts.iter().all(|p| matches!(p, Part::Lit(_))) => {
            Param::Const(Value::String(parts.into_iter().map(lit_text).collect()))
        }
        _ => Param::Text(parts),
    })
}

fn lit_text(p: Part) -> String {
    match p {
        Part::Lit(s) | Part::Ref(s) => s,
    }
}

impl Param {
    /// Every reference, with its param path.
    pub(crate) fn refs(&self) -> Vec<RefSite> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, path: &mut Vec<String>, out: &mut Vec<RefSite>) {
        match self {
            Param::Const(_) => {}
            Param::Object(items) => {
                for (k, p) in items {
                    path.push(k.clone());
                    p.collect(path, out);
                    path.pop();
                }
            }
            Param::Array(items) => {
                for (i, p) in items.iter().enumerate() {
                    path.push(i.to_string());
                    p.collect(path, out);
                    path.pop();
                }
            }
            Param::Whole(name) => out.push(RefSite {
                path: path.join("."),
                name: name.clone(),
                whole: true,
            }),
            Param::Text(parts) => {
                for p in parts {
                    if let Part::Ref(name) = p {
                        out.push(RefSite {
                            path: path.join("."),
                            name: name.clone(),
                            whole: false,
                        });
                    }
                }
            }
        }
    }

    /// The params with every reference replaced by its input. Inputs are checked before a run
    /// starts, so every name is present; one that is not (an optional input left out) is null.
    pub(crate) fn render(&self, inputs: &Map<String, Value>) -> Value {
        match self {
            Param::Const(v) => v.clone(),
            Param::Object(items) => Value::Object(
                items
                    .iter()
                    .map(|(k, p)| (k.clone(), p.render(inputs)))
                    .collect(),
            ),
            Param::Array(items) => Value::Array(items.iter().map(|p| p.render(inputs)).collect()),
            Param::Whole(name) => inputs.get(name).cloned().unwrap_or(Value::Null),
            Param::Text(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        Part::Lit(text) => s.push_str(text),
                        Part::Ref(name) => push_text(&mut s, inputs.get(name)),
                    }
                }
                Value::String(s)
            }
        }
    }
}

fn push_text(out: &mut String, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => out.push_str(s),
        Some(other) => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs() -> Map<String, Value> {
        json!({"name": "Ada", "age": 36, "tags": ["a"], "none": null})
            .as_object()
            .unwrap()
            .clone()
    }

    fn render(v: Value) -> Value {
        compile(&v).unwrap().render(&inputs())
    }

    #[test]
    fn whole_references_keep_their_type() {
        assert_eq!(render(json!("${age}")), json!(36));
        assert_eq!(render(json!("{{ age }}")), json!(36));
        assert_eq!(render(json!({"t": ["{{tags}}"]})), json!({"t": [["a"]]}));
        assert_eq!(render(json!("${none}")), json!(null));
    }

    #[test]
    fn embedded_references_become_text() {
        assert_eq!(render(json!("${name} is ${age}")), json!("Ada is 36"));
        assert_eq!(render(json!("x{{tags}}y${none}")), json!("x[\"a\"]y"));
        assert_eq!(render(json!("cost: $${price}")), json!("cost: ${price}"));
    }

    #[test]
    fn constants_stay_constant() {
        assert!(matches!(
            compile(&json!({"a": [1, "b"]})).unwrap(),
            Param::Const(_)
        ));
    }

    #[test]
    fn malformed_references_are_errors() {
        for (bad, path) in [
            (json!({"a": "${name"}), "a"),
            (json!({"a": ["ok", "{{name"]}), "a.1"),
            (json!({"a": "${}"}), "a"),
            (json!({"a": "${user.id}"}), "a"),
            (json!({"a": "{{ 1x }}"}), "a"),
        ] {
            let (at, _) = compile(&bad).unwrap_err();
            assert_eq!(at, path, "{bad}");
        }
    }

    #[test]
    fn reference_sites_name_their_path() {
        let p = compile(&json!({"fields": {"email": "${email}", "note": "by ${name}"}})).unwrap();
        assert_eq!(
            p.refs(),
            vec![
                RefSite {
                    path: "fields.email".into(),
                    name: "email".into(),
                    whole: true
                },
                RefSite {
                    path: "fields.note".into(),
                    name: "name".into(),
                    whole: false
                },
            ]
        );
    }
}
