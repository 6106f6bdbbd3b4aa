//! Our native filters: jaq's and jaq-json's natives for values of our kind ([`Jv`]), each
//! charging the run for what it builds and stepping it while it loops.
//!
//! jaq-json's natives work on its own value type only, so `length`, `contains`, `has`,
//! `indices`, `bsearch`, `tobytes`, `fromjson` and `tojson` are written again here, and so are
//! `range/3` (jaq-core's loops without evaluating terms), `tostring`, and jaq-std's regular
//! expression natives (`matches`, `split_matches`, `split_`, under `test`, `match`, `sub`,
//! `gsub`, `splits`...), which collect every match before making values of them: ours charge
//! each match as they find it, so a global match on a long text cannot take more memory than
//! the run may use.

use super::value::{self, Jv, MAX_INT_BITS, bounded_json, charge, tick};
use super::{D, MAX_JSON_DEPTH, quote};
use jaq_core::native::{Fun, run, v};
use jaq_core::{Cv, Error, Exn, ValT as _};
use jaq_json::Val;

/// The natives a program may use besides jaq-core's and jaq-std's.
pub(super) fn funs() -> [Fun<D>; 13] {
    [
        run(("matches", v(2), |cv| regex(cv, false, true))),
        run(("split_matches", v(2), |cv| regex(cv, true, true))),
        run(("split_", v(2), |cv| regex(cv, true, false))),
        range_fun(),
        fromjson_fun(),
        tojson_fun(),
        tostring_fun(),
        length_fun(),
        contains_fun(),
        has_fun(),
        indices_fun(),
        bsearch_fun(),
        tobytes_fun(),
    ]
}

fn once<'a>(r: Result<Jv, Error<Jv>>) -> jaq_core::ValXs<'a, Jv> {
    Box::new(std::iter::once(r.map_err(Exn::from)))
}

/// `range($from; $to; $by)`, as jaq's native, charging one unit of fuel per value.
fn range_fun() -> Fun<D> {
    run(("range", v(3), |mut cv| {
        let by = cv.0.pop_var();
        let to = cv.0.pop_var();
        let from = cv.0.pop_var();
        let guard = cv.0.data().guard;
        Box::new(range(from, to, by).inspect(move |_| guard.step()))
    }))
}

/// jaq's `range/3` (jaq-core `funs.rs`).
fn range<'a>(from: Jv, to: Jv, by: Jv) -> impl Iterator<Item = jaq_core::ValX<'a, Jv>> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let cmp = by.partial_cmp(&Jv::from(0isize)).unwrap_or(Equal);
    let mut from: jaq_core::ValX<'a, Jv> = Ok(from);
    std::iter::from_fn(move || match from.clone() {
        Ok(x) => match cmp {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        }
        .then(|| std::mem::replace(&mut from, (x + by.clone()).map_err(Exn::from))),
        e @ Err(_) => {
            from = Ok(to.clone());
            Some(e)
        }
    })
}

/// `fromjson`, as jaq-json's, refusing text nested deeper than [`MAX_JSON_DEPTH`] or with
/// integers longer than [`MAX_INT_BITS`] allows, before parsing it. It gives the values the text
/// holds, up to the first error, each charged to the run.
fn fromjson_fun() -> Fun<D> {
    run(("fromjson", v(0), |cv| {
        use jaq_std::ValT as _;
        let parsed = (|| {
            let text = cv.1.try_as_utf8_bytes()?;
            let (depth, digits) = json_shape(text);
            if depth > MAX_JSON_DEPTH {
                return Err(Error::str(format_args!(
                    "cannot parse JSON nested more than {MAX_JSON_DEPTH} deep"
                )));
            }
            if digits as u64 > MAX_INT_BITS * 3 / 10 {
                return Err(Error::str(format_args!(
                    "cannot parse JSON with a number of more than {} digits",
                    MAX_INT_BITS * 3 / 10
                )));
            }
            let mut out = Vec::new();
            for r in jaq_json::read::parse_many(text) {
                match r {
                    Ok(v) => out.push(Ok(Jv::charged(v))),
                    Err(e) => {
                        out.push(Err(Exn::from(Error::str(format_args!(
                            "cannot parse {} as JSON: {e}",
                            quote(&cv.1.0)
                        )))));
                        break;
                    }
                }
            }
            Ok(out)
        })();
        match parsed {
            Ok(out) => Box::new(out.into_iter()),
            Err(e) => Box::new(std::iter::once(Err(Exn::from(e)))),
        }
    }))
}

/// `tojson`, as jaq-json's, within [`MAX_TEXT`] and stepping the run as it writes.
fn tojson_fun() -> Fun<D> {
    run(("tojson", v(0), |cv| {
        let guard = cv.0.data().guard;
        once(bounded_json(&cv.1.0, guard).map(|t| Jv(Val::utf8_str(t))))
    }))
}

/// `tostring`: a string as it is (as text), anything else as `tojson`.
fn tostring_fun() -> Fun<D> {
    run(("tostring", v(0), |cv| {
        let guard = cv.0.data().guard;
        once(match &cv.1.0 {
            Val::TStr(b) | Val::BStr(b) => Ok(Jv(Val::TStr(b.clone()))),
            v => bounded_json(v, guard).map(|t| Jv(Val::utf8_str(t))),
        })
    }))
}

/// `length`: 0 for null, the absolute value of a number, the characters of a string (bytes of
/// a byte string), the elements of an array or object.
fn length_fun() -> Fun<D> {
    run(("length", v(0), |cv| {
        once(match &cv.1.0 {
            Val::Null => Ok(Jv::from(0usize)),
            Val::Bool(_) => Err(Error::str(format_args!("{} has no length", cv.1))),
            Val::Num(_) => {
                if cv.1 < Jv::from(0isize) {
                    -cv.1
                } else {
                    Ok(cv.1)
                }
            }
            Val::TStr(s) => {
                // Counting characters walks the string: a step per 4 KiB.
                (0..s.len() / 4096).for_each(|_| tick());
                Ok(Jv::from(bstr::ByteSlice::chars(&s[..]).count()))
            }
            Val::BStr(b) => Ok(Jv::from(b.len())),
            Val::Arr(a) => Ok(Jv::from(a.len())),
            Val::Obj(o) => Ok(Jv::from(o.len())),
        })
    }))
}

fn contains_fun() -> Fun<D> {
    run(("contains", v(1), |mut cv| {
        let y = cv.0.pop_var();
        once(Ok(Jv::from(value::contains(&cv.1.0, &y.0))))
    }))
}

/// `has($k)`: whether an object has the key, or an array the index.
fn has_fun() -> Fun<D> {
    run(("has", v(1), |mut cv| {
        let k = cv.0.pop_var();
        once(match (&cv.1.0, &k.0) {
            (Val::Null, _) => Ok(Jv::from(false)),
            (Val::Obj(_), Val::Arr(_) | Val::Obj(_)) => Err(Error::index(cv.1, k)),
            (Val::Obj(o), k) => Ok(Jv::from(o.contains_key(k))),
            (Val::Arr(a), Val::Num(n)) => {
                let len = a.len() as isize;
                Ok(Jv::from(n.as_isize().is_some_and(|i| {
                    let i = if i < 0 { i + len } else { i };
                    (0..len).contains(&i)
                })))
            }
            _ => Err(Error::index(cv.1, k)),
        })
    }))
}

/// `indices($y)`: where `$y` occurs in a string or array (a step every few positions).
fn indices_fun() -> Fun<D> {
    run(("indices", v(1), |mut cv| {
        let y = cv.0.pop_var();
        let found: Result<Vec<usize>, _> = match (&cv.1.0, &y.0) {
            (Val::TStr(_), Val::TStr(y)) | (Val::BStr(_), Val::BStr(y)) if y.is_empty() => {
                Ok(Vec::new())
            }
            (Val::TStr(x), Val::TStr(y)) => Ok(bstr::ByteSlice::char_indices(&x[..])
                .map_while(|(i, _, _)| x.get(i..i + y.len()))
                .enumerate()
                .filter(|(_, w)| {
                    tick();
                    *w == &y[..]
                })
                .map(|(i, _)| i)
                .collect()),
            (Val::BStr(x), Val::BStr(y)) => Ok(x
                .windows(y.len())
                .enumerate()
                .filter(|(_, w)| {
                    tick();
                    *w == &y[..]
                })
                .map(|(i, _)| i)
                .collect()),
            (Val::Arr(x), Val::Arr(y)) => Ok(value::sub_array_indices(x, y)),
            (Val::Arr(x), y) => Ok(x
                .iter()
                .enumerate()
                .filter(|(_, x)| {
                    tick();
                    value::eq(x, y)
                })
                .map(|(i, _)| i)
                .collect()),
            _ => Err(Error::index(cv.1.clone(), y.clone())),
        };
        once(found.map(|f| f.into_iter().map(Jv::from).collect()))
    }))
}

/// `bsearch($x)`: the index of `$x` in a sorted array, or `-1 - ` where it would go.
fn bsearch_fun() -> Fun<D> {
    run(("bsearch", v(1), |mut cv| {
        let x = cv.0.pop_var();
        once(match &cv.1.0 {
            Val::Arr(a) => {
                let at = a.binary_search_by(|y| {
                    tick();
                    value::cmp(y, &x.0)
                });
                Ok(Jv::from(
                    at.map_or_else(|i| -1 - i as isize, |i| i as isize),
                ))
            }
            _ => Err(Error::typ(cv.1.clone(), "array")),
        })
    }))
}

/// `tobytes`: a byte string from a string, a byte (0..=255) or an array of those.
fn tobytes_fun() -> Fun<D> {
    run(("tobytes", v(0), |cv| {
        fn add(v: &Val, out: &mut Vec<u8>) -> bool {
            tick();
            match v {
                Val::Num(n) => match n.as_isize().and_then(|i| u8::try_from(i).ok()) {
                    Some(b) => {
                        charge(1);
                        out.push(b);
                        true
                    }
                    None => false,
                },
                Val::TStr(b) | Val::BStr(b) => {
                    charge(b.len());
                    out.extend_from_slice(b);
                    true
                }
                Val::Arr(a) => a.iter().all(|v| add(v, out)),
                _ => false,
            }
        }
        let mut out = Vec::new();
        once(if add(&cv.1.0, &mut out) {
            charge(64);
            Ok(Jv(Val::byte_str(out)))
        } else {
            Err(Error::str(format_args!("cannot convert {} to bytes", cv.1)))
        })
    }))
}

/// How deep `[` and `{` nest in JSON text, and the longest run of digits (strings skipped).
pub(super) fn json_shape(text: &[u8]) -> (usize, usize) {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    let (mut digits, mut max_digits) = (0usize, 0usize);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if b.is_ascii_digit() {
            digits += 1;
            max_digits = max_digits.max(digits);
            continue;
        }
        digits = 0;
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (max, max_digits)
}

/// The most a regular expression may take compiled (the `regex` crate's matching time is
/// linear in the text times the size of the pattern).
const MAX_REGEX: usize = 1 << 20;

/// jaq-std's `matches`, `split_matches` and `split_` (`$re`, `$flags`): the parts of the input
/// string between matches (`split`), and for each match an array of objects for the match and
/// its groups (`matches`), with the flags of jq (`g`, `n`, `i`, `m`, `s`, `l`, `x`, `p`).
fn regex<'a>(mut cv: Cv<'a, D>, split: bool, matches: bool) -> jaq_core::ValXs<'a, Jv> {
    use jaq_std::ValT as _;
    let flags = cv.0.pop_var();
    let re = cv.0.pop_var();
    let out = (|| -> Result<Jv, Error<Jv>> {
        let str_of = |v: &Jv| -> Result<String, Error<Jv>> {
            let b = v.try_as_utf8_bytes()?;
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(Error::str)
        };
        let (mut global, mut ignore_empty) = (false, false);
        let mut builder = regex::bytes::RegexBuilder::new(&str_of(&re)?);
        builder.size_limit(MAX_REGEX);
        for flag in str_of(&flags)?.chars() {
            match flag {
                'g' => global = true,
                'n' => ignore_empty = true,
                'i' => {
                    builder.case_insensitive(true);
                }
                'm' => {
                    builder.multi_line(true);
                }
                's' => {
                    builder.dot_matches_new_line(true);
                }
                'l' => {
                    builder.swap_greed(true);
                }
                'x' => {
                    builder.ignore_whitespace(true);
                }
                'p' => {
                    builder.multi_line(true).dot_matches_new_line(true);
                }
                c => return Err(Error::str(format_args!("invalid regex flag: {c}"))),
            }
        }
        let re = builder
            .build()
            .map_err(|e| Error::str(format_args!("invalid regex: {e}")))?;
        let text = cv.1.try_as_utf8_bytes()?;
        // Character offsets, counted on from the last one asked for.
        let mut at = (0usize, 0usize);
        let mut char_of = |byte: usize| {
            if byte < at.0 {
                at = (0, 0);
            }
            let n = bstr::ByteSlice::chars(&text[at.0..byte]).count();
            (0..(byte - at.0) / 4096).for_each(|_| tick());
            at = (byte, at.1 + n);
            at.1
        };
        let sub = |b: &[u8]| cv.1.as_sub_str(b);
        let mut out: Vec<Jv> = Vec::new();
        let mut last = 0;
        for c in re.captures_iter(text) {
            tick();
            let Some(whole) = c.get(0) else { continue };
            if ignore_empty && whole.is_empty() {
                continue;
            }
            if split {
                charge(super::value::ELEM);
                out.push(sub(&text[last..whole.start()]));
                last = whole.end();
            }
            if matches {
                let mut groups = Vec::new();
                for (m, name) in c.iter().zip(re.capture_names()) {
                    let Some(m) = m else { continue };
                    let offset = char_of(m.start()) as isize;
                    let length = bstr::ByteSlice::chars(m.as_bytes()).count() as isize;
                    let mut fields = vec![
                        (Jv::from("offset".to_string()), Jv::from(offset)),
                        (Jv::from("length".to_string()), Jv::from(length)),
                        (Jv::from("string".to_string()), sub(m.as_bytes())),
                    ];
                    if let Some(name) = name {
                        fields.push((Jv::from("name".to_string()), Jv::from(name.to_string())));
                    }
                    groups.push(Jv::from_map(fields)?);
                }
                charge(super::value::ELEM);
                out.push(groups.into_iter().collect());
            }
            if !global {
                break;
            }
        }
        if split {
            out.push(sub(&text[last..]));
        }
        // Charged again as the array collects them.
        super::value::give_back(out.len().saturating_sub(1) * super::value::ELEM);
        Ok(out.into_iter().collect())
    })();
    once(out)
}
