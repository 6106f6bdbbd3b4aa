//! The values of a jq run: jaq-json's [`Val`] inside [`Jv`], which accounts for what the run
//! builds and steps the run while it walks values.
//!
//! jaq's interpreter and its standard library reach values only through the `ValT` traits, so
//! every value a run builds is built here. Two things are bounded:
//! - **Memory**: every new allocation (array, object, string, big integer) is charged to the
//!   run's memory ([`super::Limits::memory`]) *before* it is made when its size follows from its
//!   operands (`"x" * n`, `a + b`, `a * b`, splitting), else as it grows (collecting `[f]`), and
//!   given back when the last [`Jv`] holding it is dropped. So a run never holds more than its
//!   limit, and a single huge request (`"x" * 1e12`) fails instead of aborting the process.
//! - **Time**: what walks values (comparison, sorting, `contains`, `indices`, array difference,
//!   object merging) steps the run every few elements, so values that share parts (2^60 leaves
//!   in 60 steps) are walked within the fuel and stop with the run.
//!
//! Object keys are scalars (strings in JSON; a program may also use numbers, booleans or null as
//! jaq allows): keys are hashed and compared by jaq-json without stepping, so arrays and objects
//! are refused as keys.
//!
//! A value's error messages quote at most [`super::MAX_QUOTE`] bytes of it.

use super::{Guard, MAX_TEXT, MAX_WRITE_DEPTH, Stop, quote, with_guard};
use jaq_core::ValT as _;
use jaq_core::path::Opt;
use jaq_core::val::Range;
use jaq_core::{Error, Exn, ValR, ValX};
use jaq_json::{Map, Num, Rc, Val};
use std::cmp::Ordering;
use std::fmt;
use std::panic::resume_unwind;

/// Bytes charged for a new array, object, string or big integer besides its contents.
pub(crate) const NODE: usize = 48;
/// Bytes charged for an element of an array.
pub(crate) const ELEM: usize = 24;
/// Bytes charged for an entry of an object.
const ENTRY: usize = 64;
/// The largest integer a run may make, in bits (about 20,000 decimal digits): big integers are
/// multiplied and printed in more than linear time.
pub(crate) const MAX_INT_BITS: u64 = 1 << 16;

/// A value of a run (see the module documentation).
#[derive(Clone, Debug, Default)]
pub(crate) struct Jv(pub(crate) Val);

impl Drop for Jv {
    fn drop(&mut self) {
        if !is_inline(&self.0) {
            let freed = freed(&self.0);
            if freed > 0 {
                with_guard(|g| g.free(freed));
            }
        }
    }
}

/// The bytes dropping `v` gives back: its own allocation and those of its parts held nowhere
/// else (walked without recursion, and only when `v` itself is held nowhere else).
fn freed(v: &Val) -> usize {
    let unique = match v {
        Val::Arr(a) => Rc::strong_count(a) == 1,
        Val::Obj(o) => Rc::strong_count(o) == 1,
        _ => return freed_alone(v),
    };
    if !unique {
        return 0;
    }
    let mut total = 0;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        match v {
            Val::Arr(a) if Rc::strong_count(a) == 1 => {
                total += NODE + a.len() * ELEM;
                todo.extend(a.iter().filter(|v| !is_inline(v)));
            }
            Val::Obj(o) if Rc::strong_count(o) == 1 => {
                total += NODE + o.len() * ENTRY;
                for (k, v) in o.iter() {
                    total += freed_alone(k);
                    if !is_inline(v) {
                        todo.push(v);
                    }
                }
            }
            v => total += freed_alone(v),
        }
    }
    total
}

/// Whether `v` holds no allocation of its own.
fn is_inline(v: &Val) -> bool {
    matches!(
        v,
        Val::Null | Val::Bool(_) | Val::Num(Num::Int(_) | Num::Float(_))
    )
}

/// The bytes dropping a string or number gives back.
fn freed_alone(v: &Val) -> usize {
    match v {
        Val::TStr(b) | Val::BStr(b) if b.is_unique() => NODE + b.len(),
        Val::Num(Num::BigInt(i)) if Rc::strong_count(i) == 1 => NODE + (i.bits() / 8) as usize,
        Val::Num(Num::Dec(s)) if Rc::strong_count(s) == 1 => NODE + s.len(),
        _ => 0,
    }
}

/// The bytes of a new allocation for `v` alone (not its elements).
fn shallow(v: &Val) -> usize {
    match v {
        Val::Arr(a) => NODE + a.len() * ELEM,
        Val::Obj(o) => NODE + o.len() * ENTRY,
        Val::TStr(b) | Val::BStr(b) => NODE + b.len(),
        Val::Num(Num::BigInt(i)) => NODE + (i.bits() / 8) as usize,
        Val::Num(Num::Dec(s)) => NODE + s.len(),
        _ => 0,
    }
}

/// The bytes of `v` and everything in it, counting shared parts once per path (each step of the
/// walk steps the run). Used for values that come from outside the accounting (parsed JSON).
pub(crate) fn deep(v: &Val) -> usize {
    let mut total = 0;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        total += shallow(v);
        match v {
            Val::Arr(a) => todo.extend(a.iter().inspect(|_| tick())),
            Val::Obj(o) => o.iter().for_each(|(k, v)| {
                tick();
                todo.push(k);
                todo.push(v);
            }),
            _ => {}
        }
    }
    total
}

/// Charges the run `bytes` of new memory (stops it past its limit).
pub(crate) fn charge(bytes: usize) {
    with_guard(|g| g.alloc(bytes));
}

/// Gives the run `bytes` back.
pub(crate) fn give_back(bytes: usize) {
    with_guard(|g| g.free(bytes));
}

/// One element walked.
pub(crate) fn tick() {
    with_guard(|g| g.tick());
}

/// The error of a jaq-json operation, as ours (its message, which quotes values cut short).
fn conv(e: Error<Val>) -> Error<Jv> {
    Error::str(quote(&e))
}

fn typ(v: Jv, t: &'static str) -> Error<Jv> {
    Error::typ(v, t)
}

impl Jv {
    /// Takes the value out (leaving `null`, which gives nothing back when dropped).
    pub(crate) fn take(mut self) -> Val {
        std::mem::take(&mut self.0)
    }

    /// A value made outside the accounting (parsed or converted), charged as a whole.
    pub(crate) fn charged(v: Val) -> Jv {
        charge(deep(&v));
        Jv(v)
    }

    /// A new value whose own allocation was just made (its elements were charged already).
    fn fresh(v: Val) -> Jv {
        charge(shallow(&v));
        Jv(v)
    }

    fn is_container(&self) -> bool {
        matches!(self.0, Val::Arr(_) | Val::Obj(_))
    }

    fn arr(&self) -> Option<&Rc<Vec<Val>>> {
        match &self.0 {
            Val::Arr(a) => Some(a),
            _ => None,
        }
    }

    /// An integer index as (from the start?, distance), as jaq-json reads indices.
    fn pos_usize(&self) -> Result<(bool, usize), Error<Jv>> {
        let fail = || typ(self.clone(), "integer");
        match &self.0 {
            Val::Num(Num::Int(i)) => Ok((*i >= 0, i.unsigned_abs())),
            Val::Num(n @ Num::BigInt(i)) => {
                let mag = i.magnitude().to_u64_digits();
                match mag.as_slice() {
                    [] => Ok((true, 0)),
                    [m] => usize::try_from(*m)
                        .map(|m| (*n >= Num::Int(0), m))
                        .map_err(|_| fail()),
                    _ => Err(fail()),
                }
            }
            _ => Err(fail()),
        }
    }

    /// A range bound as jaq-json reads it (`null` is no bound).
    fn range_int(range: Range<&Jv>) -> Result<Range<(bool, usize)>, Error<Jv>> {
        let f = |i: Option<&Jv>| {
            i.filter(|i| !matches!(i.0, Val::Null))
                .map(Jv::pos_usize)
                .transpose()
        };
        Ok(f(range.start)?..f(range.end)?)
    }
}

/// Absolute position of a bound (`(from start?, n)`) in `len`, clipped, or `default`.
fn abs_bound(i: Option<(bool, usize)>, len: usize, default: usize) -> usize {
    i.map_or(default, |i| wrap(i, len).unwrap_or(0).min(len))
}

fn wrap((pos, n): (bool, usize), len: usize) -> Option<usize> {
    if pos { Some(n) } else { len.checked_sub(n) }
}

fn skip_take(range: Range<(bool, usize)>, len: usize) -> (usize, usize) {
    let from = abs_bound(range.start, len, 0);
    let upto = abs_bound(range.end, len, len);
    (from, upto.saturating_sub(from))
}

fn skip_take_chars(range: Range<(bool, usize)>, b: &[u8]) -> (usize, usize) {
    use bstr::ByteSlice;
    let byte_index = |(pos, c): (bool, usize)| {
        let mut chars = b.char_indices().map(|(start, ..)| start);
        if pos {
            chars.nth(c).unwrap_or(b.len())
        } else {
            chars.nth_back(c - 1).unwrap_or(0)
        }
    };
    let from = range.start.map_or(0, byte_index);
    let upto = range.end.map_or(b.len(), byte_index);
    (from, upto.saturating_sub(from))
}

// ---- walking values, a step every few elements ----

/// `a == b`, as jaq-json's, stepping the run.
pub(crate) fn eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Arr(x), Val::Arr(y)) => {
            x.len() == y.len()
                && x.iter().zip(y.iter()).all(|(p, q)| {
                    tick();
                    eq(p, q)
                })
        }
        (Val::Obj(x), Val::Obj(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    tick();
                    y.get(k).is_some_and(|w| eq(v, w))
                })
        }
        _ => a == b,
    }
}

/// The order of `a` and `b`, as jaq-json's, stepping the run.
pub(crate) fn cmp(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Arr(x), Val::Arr(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                tick();
                match cmp(p, q) {
                    Ordering::Equal => {}
                    o => return o,
                }
            }
            x.len().cmp(&y.len())
        }
        (Val::Obj(x), Val::Obj(y)) => match (x.len(), y.len()) {
            (0, 0) => Ordering::Equal,
            (0, _) => Ordering::Less,
            (_, 0) => Ordering::Greater,
            _ => {
                let mut l: Vec<_> = x.iter().collect();
                let mut r: Vec<_> = y.iter().collect();
                l.sort_by(|p, q| {
                    tick();
                    cmp(p.0, q.0)
                });
                r.sort_by(|p, q| {
                    tick();
                    cmp(p.0, q.0)
                });
                let keys = l.iter().map(|p| p.0).cmp_by_(r.iter().map(|p| p.0));
                keys.then_with(|| l.iter().map(|p| p.1).cmp_by_(r.iter().map(|p| p.1)))
            }
        },
        // Scalars, or values of different types (ordered by type without walking them).
        _ => a.cmp(b),
    }
}

/// Lexicographic comparison with our `cmp` (std's `Iterator::cmp_by` is unstable).
trait CmpBy<'a>: Iterator<Item = &'a Val> + Sized {
    fn cmp_by_(mut self, mut other: impl Iterator<Item = &'a Val>) -> Ordering {
        loop {
            match (self.next(), other.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(p), Some(q)) => {
                    tick();
                    match cmp(p, q) {
                        Ordering::Equal => {}
                        o => return o,
                    }
                }
            }
        }
    }
}
impl<'a, I: Iterator<Item = &'a Val>> CmpBy<'a> for I {}

/// `a` contains `b` (jq's `contains`), stepping the run.
pub(crate) fn contains(a: &Val, b: &Val) -> bool {
    use bstr::ByteSlice;
    match (a, b) {
        (Val::BStr(l), Val::BStr(r)) | (Val::TStr(l), Val::TStr(r)) => l.contains_str(&***r),
        (Val::Arr(l), Val::Arr(r)) => r.iter().all(|r| {
            l.iter().any(|l| {
                tick();
                contains(l, r)
            })
        }),
        (Val::Obj(l), Val::Obj(r)) => r.iter().all(|(k, r)| {
            tick();
            l.get(k).is_some_and(|l| contains(l, r))
        }),
        _ => eq(a, b),
    }
}

/// Where the array `y` occurs in the array `x`, stepping the run.
pub(crate) fn sub_array_indices(x: &[Val], y: &[Val]) -> Vec<usize> {
    if y.is_empty() {
        return Vec::new();
    }
    x.windows(y.len())
        .enumerate()
        .filter(|(_, w)| {
            w.iter().zip(y).all(|(p, q)| {
                tick();
                eq(p, q)
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// Merges `r` into `l` recursively (jq's object `*`), charging copies and stepping the run.
fn obj_merge(l: &mut Rc<Map>, r: &Map) {
    let copied = Rc::strong_count(l) > 1;
    let l = Rc::make_mut(l);
    if copied {
        charge(NODE + l.len() * ENTRY);
    }
    for (k, v) in r.iter() {
        tick();
        match (l.get_mut(k), v) {
            (Some(Val::Obj(l)), Val::Obj(r)) => obj_merge(l, r),
            (Some(l), r) => drop(Jv(std::mem::replace(l, r.clone()))),
            (None, r) => {
                charge(ENTRY);
                l.insert(k.clone(), r.clone());
            }
        }
    }
}

/// Refuses an array or object as an object key (it would be hashed without stepping).
fn check_key(k: &Jv) -> Result<(), Error<Jv>> {
    if k.is_container() {
        Err(Error::str(format_args!(
            "an object key cannot be an array or object: {}",
            quote(&k.0)
        )))
    } else {
        Ok(())
    }
}

/// Refuses a big integer of more than [`MAX_INT_BITS`] bits, before it is computed.
fn check_bits(bits: u64) -> Result<(), Error<Jv>> {
    if bits > MAX_INT_BITS {
        Err(Error::str(format_args!(
            "the integer would have more than {MAX_INT_BITS} bits"
        )))
    } else {
        Ok(())
    }
}

fn bits(n: &Num) -> u64 {
    match n {
        Num::Int(_) => 64,
        Num::BigInt(i) => i.bits(),
        _ => 0,
    }
}

fn is_int(n: &Num) -> bool {
    matches!(n, Num::Int(_) | Num::BigInt(_))
}

// ---- jaq's value traits ----

impl fmt::Display for Jv {
    /// At most [`super::MAX_QUOTE`] bytes (error messages, and `catch` turning them into strings).
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&quote(&self.0))
    }
}

impl From<bool> for Jv {
    fn from(b: bool) -> Self {
        Jv(Val::from(b))
    }
}

impl From<isize> for Jv {
    fn from(i: isize) -> Self {
        Jv(Val::from(i))
    }
}

impl From<usize> for Jv {
    fn from(i: usize) -> Self {
        Jv::fresh(Val::from(i))
    }
}

impl From<f64> for Jv {
    fn from(f: f64) -> Self {
        Jv(Val::from(f))
    }
}

impl From<String> for Jv {
    /// A string in a buffer of its own (jaq-json's would be one whose owner `Bytes` cannot tell
    /// is unique, so it could never be given back).
    fn from(s: String) -> Self {
        charge(NODE + s.len());
        Jv(Val::utf8_str(s.into_bytes()))
    }
}

impl From<Range<Jv>> for Jv {
    fn from(r: Range<Jv>) -> Self {
        let r = r.start.map(Jv::take)..r.end.map(Jv::take);
        Jv::fresh(Val::from(r))
    }
}

impl FromIterator<Jv> for Jv {
    /// Charges as it collects, so `[f]` stops when the run's memory is used up.
    fn from_iter<T: IntoIterator<Item = Jv>>(iter: T) -> Self {
        charge(NODE);
        let items: Vec<Val> = iter
            .into_iter()
            .map(|x| {
                charge(ELEM);
                x.take()
            })
            .collect();
        Jv(Val::Arr(Rc::new(items)))
    }
}

impl PartialEq for Jv {
    fn eq(&self, other: &Self) -> bool {
        eq(&self.0, &other.0)
    }
}

impl Eq for Jv {}

impl PartialOrd for Jv {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Jv {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp(&self.0, &other.0)
    }
}

impl std::ops::Add for Jv {
    type Output = ValR<Jv>;
    fn add(self, rhs: Self) -> Self::Output {
        if let (Val::Num(x), Val::Num(y)) = (&self.0, &rhs.0) {
            if is_int(x) && is_int(y) {
                check_bits(bits(x).max(bits(y)) + 1)?;
            }
            // On copies: the operands give back what they hold when they are dropped.
            return (self.0.clone() + rhs.0.clone())
                .map(Jv::fresh)
                .map_err(conv);
        }
        let (l, r) = (self.take(), rhs.take());
        match (&l, &r) {
            (Val::Null, _) | (_, Val::Null) => {}
            (Val::TStr(x) | Val::BStr(x), Val::TStr(y) | Val::BStr(y)) => {
                // jaq-json appends to `x` in place when nothing else holds it, else copies it.
                if x.is_unique() {
                    charge(y.len());
                } else {
                    charge(NODE + x.len() + y.len());
                }
                if y.is_unique() {
                    give_back(NODE + y.len());
                }
            }
            (Val::Arr(x), Val::Arr(y)) => {
                if Rc::strong_count(x) > 1 {
                    charge(NODE + x.len() * ELEM);
                }
                charge(y.len() * ELEM);
                if Rc::strong_count(y) == 1 {
                    // Its elements are copied into `x`, its own allocation goes.
                    give_back(NODE + y.len() * ELEM);
                }
            }
            (Val::Obj(x), Val::Obj(y)) => {
                if Rc::strong_count(x) > 1 {
                    charge(NODE + x.len() * ENTRY);
                }
                charge(y.len() * ENTRY);
                if Rc::strong_count(y) == 1 {
                    give_back(NODE + y.len() * ENTRY);
                }
            }
            _ => {}
        }
        (l + r).map(Jv).map_err(conv)
    }
}

impl std::ops::Sub for Jv {
    type Output = ValR<Jv>;
    fn sub(self, rhs: Self) -> Self::Output {
        match (&self.0, &rhs.0) {
            (Val::Num(x), Val::Num(y)) => {
                if is_int(x) && is_int(y) {
                    check_bits(bits(x).max(bits(y)) + 1)?;
                }
                (self.0.clone() - rhs.0.clone())
                    .map(Jv::fresh)
                    .map_err(conv)
            }
            (Val::Arr(x), Val::Arr(y)) => {
                // jaq-json sorts `y` into a set with its own (unstepped) order; we sort with ours
                // and look every element of `x` up.
                let mut ys: Vec<&Val> = y.iter().collect();
                ys.sort_by(|p, q| {
                    tick();
                    cmp(p, q)
                });
                let kept = x.iter().filter(|v| {
                    ys.binary_search_by(|y| {
                        tick();
                        cmp(y, v)
                    })
                    .is_err()
                });
                Ok(kept.map(|v| Jv(v.clone())).collect())
            }
            _ => Err(Error::math(self, jaq_core::ops::Math::Sub, rhs)),
        }
    }
}

impl std::ops::Mul for Jv {
    type Output = ValR<Jv>;
    fn mul(self, rhs: Self) -> Self::Output {
        match (&self.0, &rhs.0) {
            (Val::Num(x), Val::Num(y)) => {
                if is_int(x) && is_int(y) {
                    check_bits(bits(x) + bits(y))?;
                }
                (self.0.clone() * rhs.0.clone())
                    .map(Jv::fresh)
                    .map_err(conv)
            }
            (Val::TStr(s) | Val::BStr(s), Val::Num(n))
            | (Val::Num(n), Val::TStr(s) | Val::BStr(s))
                if is_int(n) =>
            {
                // `"x" * n` asks for `len * n` bytes at once: refuse it before.
                let times = match n {
                    Num::Int(i) => (*i).max(0) as u128,
                    _ if Jv(Val::Num(n.clone())) > Jv::from(0isize) => u128::MAX,
                    _ => 0,
                };
                let len = (s.len() as u128).saturating_mul(times);
                let room = with_guard(|g| g.room()).unwrap_or(usize::MAX);
                if len > room as u128 {
                    return Err(Error::str(format_args!(
                        "the string would be {len} bytes long, more than the memory left to \
                         the program ({room} bytes)"
                    )));
                }
                charge(NODE + len as usize);
                (self.0.clone() * rhs.0.clone()).map(Jv).map_err(conv)
            }
            (Val::Obj(_), Val::Obj(_)) => {
                let (Val::Obj(mut l), Val::Obj(r)) = (self.take(), rhs.take()) else {
                    unreachable!()
                };
                obj_merge(&mut l, &r);
                // `r` gives back what it held that `l` does not hold now.
                drop(Jv(Val::Obj(r)));
                Ok(Jv(Val::Obj(l)))
            }
            _ => (self.0.clone() * rhs.0.clone()).map(Jv).map_err(conv),
        }
    }
}

impl std::ops::Div for Jv {
    type Output = ValR<Jv>;
    fn div(self, rhs: Self) -> Self::Output {
        if let (Val::TStr(x) | Val::BStr(x), Val::TStr(y) | Val::BStr(y)) = (&self.0, &rhs.0) {
            // Splitting makes up to one string per byte: charge the most it can make first.
            let parts = x.len() / y.len().max(1) + 1;
            charge(NODE + parts * (ELEM + NODE));
            let out = (self.0.clone() / rhs.0.clone()).map_err(conv)?;
            let made = match &out {
                Val::Arr(a) => a.len(),
                _ => 0,
            };
            give_back((parts - made.min(parts)) * (ELEM + NODE));
            return Ok(Jv(out));
        }
        (self.0.clone() / rhs.0.clone()).map(Jv).map_err(conv)
    }
}

impl std::ops::Rem for Jv {
    type Output = ValR<Jv>;
    fn rem(self, rhs: Self) -> Self::Output {
        (self.0.clone() % rhs.0.clone())
            .map(Jv::fresh)
            .map_err(conv)
    }
}

impl std::ops::Neg for Jv {
    type Output = ValR<Jv>;
    fn neg(self) -> Self::Output {
        (-self.0.clone()).map(Jv::fresh).map_err(conv)
    }
}

impl jaq_core::ValT for Jv {
    fn from_num(n: &str) -> ValR<Jv> {
        <Val as jaq_core::ValT>::from_num(n)
            .map(Jv::fresh)
            .map_err(conv)
    }

    fn from_map<I: IntoIterator<Item = (Self, Self)>>(iter: I) -> ValR<Jv> {
        charge(NODE);
        let mut map = Map::default();
        for (k, v) in iter {
            check_key(&k)?;
            charge(ENTRY);
            map.insert(k.take(), v.take());
        }
        Ok(Jv(Val::obj(map)))
    }

    fn key_values(self) -> Box<dyn Iterator<Item = ValR<(Jv, Jv), Jv>>> {
        if !self.is_container() {
            return Box::new(std::iter::once(Err(typ(
                self,
                "iterable (array or object)",
            ))));
        }
        give_back_if_unique(&self.0);
        Box::new(
            <Val as jaq_core::ValT>::key_values(self.take())
                .map(|kv| kv.map(|(k, v)| (Jv(k), Jv(v))).map_err(conv)),
        )
    }

    fn values(self) -> Box<dyn Iterator<Item = ValR<Jv>>> {
        if !self.is_container() {
            return Box::new(std::iter::once(Err(typ(
                self,
                "iterable (array or object)",
            ))));
        }
        give_back_if_unique(&self.0);
        Box::new(<Val as jaq_core::ValT>::values(self.take()).map(|v| v.map(Jv).map_err(conv)))
    }

    fn index(self, index: &Self) -> ValR<Jv> {
        match (&self.0, &index.0) {
            (Val::Obj(_), Val::Arr(_) | Val::Obj(_)) => Err(Error::index(self, index.clone())),
            (Val::Arr(x), Val::Arr(y)) => {
                let found = sub_array_indices(x, y);
                Ok(found.into_iter().map(Jv::from).collect())
            }
            _ => {
                // On a copy: `self` gives back what it held, if anything, when it is dropped.
                let out = <Val as jaq_core::ValT>::index(self.0.clone(), &index.0).map_err(conv)?;
                // Indexing an array or string with `{start, end}` makes a slice.
                Ok(
                    if matches!(out, Val::Arr(_)) && !matches!(index.0, Val::Num(_)) {
                        Jv::fresh(out)
                    } else {
                        Jv(out)
                    },
                )
            }
        }
    }

    fn range(self, range: Range<&Self>) -> ValR<Jv> {
        let range = range.start.map(|j| &j.0)..range.end.map(|j| &j.0);
        let is_arr = matches!(self.0, Val::Arr(_));
        let out = <Val as jaq_core::ValT>::range(self.0.clone(), range).map_err(conv)?;
        Ok(if is_arr { Jv::fresh(out) } else { Jv(out) })
    }

    fn map_values<'a, I: Iterator<Item = ValX<'a, Self>>>(
        self,
        opt: Opt,
        f: impl Fn(Self) -> I,
    ) -> ValX<'a, Self> {
        match self.0 {
            Val::Arr(_) => {
                let items: Vec<Jv> = self.values().map(|v| v.map_err(Exn::from)).try_fold(
                    Vec::new(),
                    |mut out, x| {
                        for y in f(x?) {
                            out.push(y?);
                        }
                        Ok::<_, Exn<'a, Jv>>(out)
                    },
                )?;
                Ok(items.into_iter().collect())
            }
            Val::Obj(_) => {
                let mut entries = Vec::new();
                for kv in self.key_values() {
                    let (k, v) = kv?;
                    if let Some(y) = f(v).next() {
                        entries.push((k, y?));
                    }
                }
                Ok(<Jv as jaq_core::ValT>::from_map(entries)?)
            }
            _ => opt.fail(self, |v| Exn::from(typ(v, "iterable (array or object)"))),
        }
    }

    fn map_index<'a, I: Iterator<Item = ValX<'a, Self>>>(
        self,
        index: &Self,
        opt: Opt,
        f: impl Fn(Self) -> I,
    ) -> ValX<'a, Self> {
        if let (Val::BStr(_) | Val::TStr(_) | Val::Arr(_), Val::Obj(o)) = (&self.0, &index.0) {
            let get = |k: &str| {
                o.get(&Val::utf8_str(k.as_bytes().to_vec()))
                    .cloned()
                    .map(Jv)
            };
            let (start, end) = (get("start"), get("end"));
            return self.map_range(start.as_ref()..end.as_ref(), opt, f);
        }
        match self.0 {
            Val::Obj(_) => {
                check_key(index)?;
                let Val::Obj(mut o) = self.take() else {
                    unreachable!()
                };
                if Rc::strong_count(&o) > 1 {
                    charge(NODE + o.len() * ENTRY);
                }
                let map = Rc::make_mut(&mut o);
                match map.get_mut(&index.0) {
                    Some(slot) => {
                        let old = Jv(std::mem::take(slot));
                        match f(old).next().transpose()? {
                            Some(y) => *slot = y.take(),
                            None => {
                                map.swap_remove(&index.0);
                                give_back(ENTRY);
                            }
                        }
                    }
                    None => {
                        if let Some(y) = f(Jv(Val::Null)).next().transpose()? {
                            charge(ENTRY);
                            map.insert(index.0.clone(), y.take());
                        }
                    }
                }
                Ok(Jv(Val::Obj(o)))
            }
            Val::Arr(_) => {
                let len = self.arr().map_or(0, |a| a.len());
                let i = match index.pos_usize().map(|p| wrap(p, len).filter(|i| *i < len)) {
                    Ok(Some(i)) => i,
                    Ok(None) => {
                        let e = Error::str(format_args!("index {index} out of bounds"));
                        return opt.fail(self, |_| Exn::from(e));
                    }
                    Err(e) => return opt.fail(self, |_| Exn::from(e)),
                };
                let Val::Arr(mut a) = self.take() else {
                    unreachable!()
                };
                if Rc::strong_count(&a) > 1 {
                    charge(NODE + a.len() * ELEM);
                }
                let items = Rc::make_mut(&mut a);
                let old = Jv(std::mem::take(&mut items[i]));
                match f(old).next().transpose()? {
                    Some(y) => items[i] = y.take(),
                    None => {
                        items.remove(i);
                        give_back(ELEM);
                    }
                }
                Ok(Jv(Val::Arr(a)))
            }
            _ => opt.fail(self, |v| Exn::from(typ(v, "iterable (array or object)"))),
        }
    }

    fn map_range<'a, I: Iterator<Item = ValX<'a, Self>>>(
        self,
        range: Range<&Self>,
        opt: Opt,
        f: impl Fn(Self) -> I,
    ) -> ValX<'a, Self> {
        let range = match Jv::range_int(range) {
            Ok(range) => range,
            Err(e) => return opt.fail(self, |_| Exn::from(e)),
        };
        match &self.0 {
            Val::Arr(a) => {
                let (skip, take) = skip_take(range, a.len());
                let slice: Jv = a
                    .iter()
                    .skip(skip)
                    .take(take)
                    .map(|v| Jv(v.clone()))
                    .collect();
                let y = match f(slice).next().transpose()? {
                    Some(y) => match y.0 {
                        Val::Arr(_) => y,
                        _ => return Err(Exn::from(typ(y, "array"))),
                    },
                    None => Jv::from_iter(std::iter::empty()),
                };
                let Val::Arr(mut a) = self.take() else {
                    unreachable!()
                };
                let new = y.arr().map_or(0, |y| y.len());
                charge(new * ELEM);
                if Rc::strong_count(&a) > 1 {
                    charge(NODE + a.len() * ELEM);
                }
                let ys: Vec<Val> = y.arr().map(|y| y.to_vec()).unwrap_or_default();
                Rc::make_mut(&mut a).splice(skip..skip + take, ys);
                Ok(Jv(Val::Arr(a)))
            }
            Val::TStr(b) | Val::BStr(b) => {
                let utf8 = matches!(self.0, Val::TStr(_));
                let (skip, take) = if utf8 {
                    skip_take_chars(range, b)
                } else {
                    skip_take(range, b.len())
                };
                let part = b.slice(skip..skip + take);
                let part = Jv(if utf8 {
                    Val::utf8_str(part)
                } else {
                    Val::byte_str(part)
                });
                let y = f(part).next().transpose()?;
                let y: Vec<u8> = match y.as_ref().map(|y| &y.0) {
                    None => Vec::new(),
                    Some(Val::TStr(s)) if utf8 => s.to_vec(),
                    Some(Val::BStr(s)) if !utf8 => s.to_vec(),
                    Some(_) => return Err(Exn::from(typ(y.unwrap_or_default(), "string"))),
                };
                let mut out = Vec::with_capacity(b.len() - take + y.len());
                charge(NODE + b.len() - take + y.len());
                out.extend_from_slice(&b[..skip]);
                out.extend_from_slice(&y);
                out.extend_from_slice(&b[skip + take..]);
                Ok(Jv(if utf8 {
                    Val::utf8_str(out)
                } else {
                    Val::byte_str(out)
                }))
            }
            _ => opt.fail(self, |v| Exn::from(typ(v, "array"))),
        }
    }

    fn as_bool(&self) -> bool {
        <Val as jaq_core::ValT>::as_bool(&self.0)
    }

    /// `"\(.)"`: the text of the value, written within the run's limits (see `bounded_json`).
    fn into_string(self) -> Self {
        match self.0 {
            Val::TStr(_) => self,
            Val::BStr(_) => match self.take() {
                Val::BStr(b) => Jv(Val::TStr(b)),
                _ => unreachable!(),
            },
            _ => Jv(Val::utf8_str(json_or_stop(&self.0))),
        }
    }
}

/// Gives back the allocation of a container that is about to be taken apart (its elements
/// live on as values of their own).
fn give_back_if_unique(v: &Val) {
    match v {
        Val::Arr(a) if Rc::strong_count(a) == 1 => give_back(NODE + a.len() * ELEM),
        Val::Obj(o) if Rc::strong_count(o) == 1 => give_back(NODE + o.len() * ENTRY),
        _ => {}
    }
}

impl jaq_std::ValT for Jv {
    fn into_seq<S: FromIterator<Self>>(self) -> Result<S, Self> {
        match self.0 {
            Val::Arr(_) => Ok(self.values().map(|v| v.unwrap_or_default()).collect()),
            _ => Err(self),
        }
    }

    fn is_int(&self) -> bool {
        self.0.is_int()
    }

    fn as_isize(&self) -> Option<isize> {
        self.0.as_isize()
    }

    fn as_f64(&self) -> Option<f64> {
        self.0.as_f64()
    }

    fn is_utf8_str(&self) -> bool {
        self.0.is_utf8_str()
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        self.0.as_bytes()
    }

    fn as_sub_str(&self, sub: &[u8]) -> Self {
        Jv(self.0.as_sub_str(sub))
    }

    /// Copied into a buffer of its own (see `From<String>`).
    fn from_utf8_bytes(b: impl AsRef<[u8]> + Send + 'static) -> Self {
        charge(NODE + b.as_ref().len());
        Jv(Val::utf8_str(b.as_ref().to_vec()))
    }
}

// ---------------------------------------------------------------------------------------------
// JSON text of values, within the run's limits (`tojson`, `tostring`, `"\(.)"`).

/// A writer that refuses to grow past [`MAX_TEXT`], charges the run for what it writes and
/// steps it every 256 bytes.
struct BoundedText<'g> {
    out: Vec<u8>,
    charged: usize,
    guard: Option<&'g Guard>,
}

impl std::io::Write for BoundedText<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + bytes.len() > MAX_TEXT {
            return Err(std::io::Error::other("too long"));
        }
        charge(bytes.len());
        self.out.extend_from_slice(bytes);
        while self.charged + 256 <= self.out.len() {
            self.charged += 256;
            match self.guard {
                Some(g) => g.step(),
                None => tick(),
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `v` as JSON text (as jaq-json's `to_json`), or an error past [`MAX_TEXT`].
pub(super) fn bounded_json(v: &Val, guard: &Guard) -> Result<Vec<u8>, Error<Jv>> {
    write_json(v, Some(guard))
}

fn write_json(v: &Val, guard: Option<&Guard>) -> Result<Vec<u8>, Error<Jv>> {
    check_depth(v, MAX_WRITE_DEPTH)?;
    let mut w = BoundedText {
        out: Vec::new(),
        charged: 0,
        guard,
    };
    match jaq_json::write::write(&mut w, &jaq_json::write::Pp::default(), 0, v) {
        Ok(()) => {
            // The string the text becomes.
            charge(NODE);
            Ok(w.out)
        }
        Err(_) => Err(Error::str(format_args!(
            "the JSON text would be longer than {MAX_TEXT} bytes"
        ))),
    }
}

/// `v` as JSON text for string interpolation (`"\(.)"`), which cannot fail in jaq: past the
/// limits the run is stopped.
fn json_or_stop(v: &Val) -> Vec<u8> {
    match write_json(v, None) {
        Ok(text) => text,
        Err(_) => resume_unwind(Box::new(Stop::Text)),
    }
}

/// Refuses a value nested deeper than `max`, walking it without recursion, a step every few
/// elements.
fn check_depth(v: &Val, max: usize) -> Result<(), Error<Jv>> {
    let too_deep = || Error::str(format_args!("the value is nested more than {max} deep"));
    let mut todo = vec![(v, 0usize)];
    while let Some((v, depth)) = todo.pop() {
        match v {
            Val::Arr(items) if !items.is_empty() => {
                if depth >= max {
                    return Err(too_deep());
                }
                for item in items.iter() {
                    tick();
                    todo.push((item, depth + 1));
                }
            }
            Val::Obj(map) if !map.is_empty() => {
                if depth >= max {
                    return Err(too_deep());
                }
                for (k, item) in map.iter() {
                    tick();
                    todo.push((k, depth + 1));
                    todo.push((item, depth + 1));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
