//! jq programs for `TransformNode` and `SwitchNode` conditions, with jaq.
//!
//! The language is jq's, with jaq's core, standard and JSON libraries, minus everything that
//! reaches outside the program: `env` and `$ENV` (the process environment), `input`/`inputs`
//! (there are none), `debug`, `stderr` and `halt_error` (output), `halt` (which would stop the
//! process), and module loading (`import`/`include` find no files). What remains computes on JSON.
//! The one global variable is `$inputs`, the run's inputs.
//!
//! A program runs on a blocking thread under [`TIME_LIMIT`]; one that runs longer fails its node
//! (its thread is abandoned, as jaq cannot be interrupted). Programs are part of the workflow
//! definition, written by whoever registers workflows, not by callers: a caller's inputs are only
//! data to them.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data};
use jaq_json::Val;
use serde_json::{Map, Value};
use std::time::Duration;

/// How long one program may run.
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(5);

/// The most values a program may give before it is stopped.
const MAX_OUTPUTS: usize = 10_000;

/// Native filters left out: they read the environment, write output or stop the process.
const DENIED_FUNS: [&str; 5] = [
    "env",
    "debug_empty",
    "stderr_empty",
    "halt",
    "input_filename",
];
/// Definitions left out, for the same reasons.
const DENIED_DEFS: [&str; 5] = ["debug", "stderr", "halt", "halt_error", "input"];

type D = data::JustLut<Val>;

/// A compiled program.
pub(crate) struct Program {
    filter: jaq_core::compile::Filter<Native<D>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Program")
    }
}

impl Program {
    /// Parses and compiles a program; the error says what is wrong and where.
    pub(crate) fn compile(code: &str) -> Result<Program, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .filter(|d| !DENIED_DEFS.contains(&d.name));
        let funs = jaq_core::funs::<D>()
            .chain(jaq_std::funs::<D>())
            .chain(jaq_json::funs::<D>())
            .filter(|(name, _, _)| !DENIED_FUNS.contains(name));
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errs| load_error(code, errs))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(["$inputs"])
            .compile(modules)
            .map_err(|errs| {
                let names: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, es)| es)
                    .map(|(name, undefined)| format!("{} `{name}`", undefined.as_str()))
                    .collect();
                format!(
                    "the program uses what does not exist here: {}",
                    names.join(", ")
                )
            })?;
        Ok(Program { filter })
    }

    /// Runs the program on `input` with `$inputs` bound; returns every value it gives, or the
    /// error it stops with.
    pub(crate) fn run(&self, input: Value, inputs: Value) -> Result<Vec<Value>, String> {
        let input = to_val(input)?;
        let inputs = to_val(inputs)?;
        let ctx = Ctx::<D>::new(&self.filter.lut, Vars::new([inputs]));
        let mut out = Vec::new();
        for item in self.filter.id.run((ctx, input)) {
            match item {
                Ok(v) => out.push(from_val(&v)?),
                Err(exn) => {
                    return Err(match exn.get_err() {
                        Ok(e) => format!("the program failed: {e}"),
                        Err(_) => "the program stopped".to_string(),
                    });
                }
            }
            if out.len() > MAX_OUTPUTS {
                return Err(format!("the program gave more than {MAX_OUTPUTS} values"));
            }
        }
        Ok(out)
    }
}

fn load_error(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let at = |part: &str| jaq_core::load::span(code, part).start;
    let mut msgs = Vec::new();
    for (_, e) in errs {
        match e {
            Error::Io(list) => {
                msgs.extend(list.into_iter().map(|(path, e)| format!("`{path}`: {e}")))
            }
            Error::Lex(list) => msgs.extend(list.into_iter().map(|(expect, rest)| {
                format!("expected {} at byte {}", expect.as_str(), at(rest))
            })),
            Error::Parse(list) => msgs.extend(list.into_iter().map(|(expect, found)| {
                if found.is_empty() {
                    format!("expected {} at the end", expect.as_str())
                } else {
                    format!(
                        "expected {}, found `{found}` at byte {}",
                        expect.as_str(),
                        at(found)
                    )
                }
            })),
        }
    }
    format!("the program does not parse: {}", msgs.join("; "))
}

fn to_val(v: Value) -> Result<Val, String> {
    serde_json::from_value(v).map_err(|e| format!("cannot pass the value to the program: {e}"))
}

fn from_val(v: &Val) -> Result<Value, String> {
    use jaq_std::ValT as _;
    Ok(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => match n.as_isize() {
            Some(i) => Value::from(i as i64),
            None => v
                .as_f64()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or(Value::Null),
        },
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => Value::Array(items.iter().map(from_val).collect::<Result<_, _>>()?),
        Val::Obj(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, item) in map.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => {
                        return Err(format!(
                            "the program gave an object key that is not a string: {other}"
                        ));
                    }
                };
                out.insert(key, from_val(item)?);
            }
            Value::Object(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(code: &str, input: Value) -> Result<Vec<Value>, String> {
        Program::compile(code)?.run(input, json!({"who": "ada"}))
    }

    #[test]
    fn runs_jq() {
        assert_eq!(
            run(
                "[.[] | . * 2] | {sum: add, n: length, who: $inputs.who}",
                json!([1, 2.5])
            )
            .unwrap(),
            vec![json!({"sum": 7.0, "n": 2, "who": "ada"})]
        );
        assert_eq!(
            run(".[]", json!([1, "a"])).unwrap(),
            vec![json!(1), json!("a")]
        );
        assert_eq!(
            run(
                "map(select(test(\"^a\"))) | map(ascii_upcase)",
                json!(["ab", "b"])
            )
            .unwrap(),
            vec![json!(["AB"])]
        );
        assert_eq!(run("empty", json!(1)).unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn errors_are_messages() {
        assert!(
            run(".a |", json!(1))
                .unwrap_err()
                .contains("does not parse")
        );
        assert!(run("nosuch", json!(1)).unwrap_err().contains("nosuch"));
        assert!(run(".a", json!([1])).unwrap_err().contains("failed"));
        assert!(
            run("error(\"boom\")", json!(1))
                .unwrap_err()
                .contains("boom")
        );
    }

    #[test]
    fn nothing_reaches_outside() {
        for code in [
            "env",
            "$ENV",
            "$ENV.PATH",
            "input",
            "inputs",
            "debug",
            "stderr",
            "halt",
            "halt_error",
            "halt_error(1)",
            "input_filename",
            "include \"x\"; .",
            "import \"x\" as x; .",
        ] {
            assert!(Program::compile(code).is_err(), "{code} compiled");
        }
    }

    #[test]
    fn programs_are_shareable() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Program>();
    }
}
