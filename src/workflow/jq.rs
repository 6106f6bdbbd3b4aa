//! jq programs for `TransformNode` and `SwitchNode` conditions, with jaq.
//!
//! The language is jq's, with jaq's core, standard and JSON libraries, minus everything that
//! reaches outside the program: `env` and `$ENV` (the process environment), `input`/`inputs`
//! (there are none), `debug`, `stderr` and `halt_error` (output), `halt` (which would stop the
//! process), `localtime` and `strflocaltime` (which read the system's time zone files), and
//! module loading (`import`/`include` find no files). What remains computes on JSON.
//! The one global variable is `$inputs`, the run's inputs.
//!
//! Programs are part of the workflow definition, written by whoever registers workflows, not by
//! callers: a caller's inputs are only data to them. Still, no program may harm the process, so
//! every program runs under [`Limits`]:
//! - **Parsing** (jaq's parser is recursive): a program is at most [`Limits::max_len`] bytes and
//!   nests brackets at most [`Limits::max_nesting`] deep, checked before parsing; parsing and
//!   compiling then run on a thread of their own with a large stack ([`COMPILE_STACK`]), so what
//!   nests without brackets (`1|1|1|...`, `try try ...`) cannot overflow a stack either.
//! - **Evaluation** runs on a thread of its own ([`EVAL_STACK`]), never a runtime thread. jaq's
//!   interpreter asks its data for the look-up table of the program on every term it evaluates
//!   (`HasLut::lut`); our data type ([`Guarded`]) answers and, on the way, checks a stop flag (set
//!   when the time limit passes or the waiter goes away), charges one unit of fuel, and compares
//!   the stack in use with [`Limits::stack`]. On a violation it unwinds the evaluation with
//!   `resume_unwind` (no panic hook runs, nothing is printed), caught around the evaluation and
//!   turned into the node's error. So a stopped program really stops, and its thread ends.
//!   Natives that loop without evaluating terms (`range/3`, the regular expressions, and
//!   jaq-json's natives, which work on its own value type only) are replaced by ours
//!   (`jq/natives.rs`), which step the run as they go.
//! - **Values** (`jq/value.rs`): jaq's JSON values inside our type [`Jv`], through which jaq
//!   builds, compares and writes every value. What a run's values hold is counted as they are
//!   built (before, when the size follows from the operands: `"x" * n`, `a + b`) and given back
//!   when they are dropped; past [`Limits::memory`] the run is stopped. Whatever walks values
//!   (comparison, sorting, `contains`, writing JSON text) steps the run every few elements, so
//!   values that share parts (`reduce range(60) as $i (0; [., .])`, 2^60 leaves in little
//!   memory) are walked within the fuel. A result nested deeper than [`Limits::output_depth`]
//!   is an error; [`EVAL_STACK`] leaves room, past [`Limits::stack`], for what recurses on the
//!   deepest value the fuel allows (comparison, drop).
//!
//! This relies on `panic = "unwind"` (Rust's default, kept by our profiles).

mod natives;
mod value;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, DataT, Native, Vars, data::HasLut};
use jaq_json::Val;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use value::Jv;

/// Stack size of the thread that parses and compiles a program: jaq's parser and compiler
/// recurse once per nesting level, and [`Limits::max_len`] bounds the levels (the densest,
/// `- - - ...`, takes about 4 KiB of stack a byte unoptimized; reserved, not used).
const COMPILE_STACK: usize = 1 << 30;
/// Stack size of the thread that runs a program: [`Limits::stack`] for the evaluation, and the
/// rest for natives that recurse on values without evaluating terms (the stack is reserved, not
/// used: only the pages a run touches take memory, and they go when the thread ends).
const EVAL_STACK: usize = 1 << 30;
/// The longest text `tojson` and `tostring` may make (a value that shares parts can be
/// exponentially larger than its memory; the writer also steps the run every 256 bytes).
const MAX_TEXT: usize = 64 << 20;
/// How deep a value `tojson` and `tostring` write (the writer recurses once per level).
const MAX_WRITE_DEPTH: usize = 10_000;
/// The longest value text an error message quotes.
const MAX_QUOTE: usize = 1000;
/// How deep the JSON text `fromjson` parses may nest (jaq's JSON parser is recursive).
const MAX_JSON_DEPTH: usize = 1000;

/// What a program may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// How long one run may take; past it the run is stopped.
    pub(crate) time: Duration,
    /// How many terms one run may evaluate (and values `range` may give).
    pub(crate) fuel: u64,
    /// How many bytes of stack the evaluation may use (deep recursion stops past it).
    pub(crate) stack: usize,
    /// How many values one run may give.
    pub(crate) outputs: usize,
    /// How deep a value a run may give (arrays and objects).
    pub(crate) output_depth: usize,
    /// How long a program may be, in bytes.
    pub(crate) max_len: usize,
    /// How deep a program may nest brackets (`(`, `[`, `{`, `"\(`).
    pub(crate) max_nesting: usize,
    /// How many bytes the values a run holds at once may take (arrays, objects, strings and big
    /// integers, counted as they are built and given back when dropped; see `jq/value.rs`).
    pub(crate) memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(5),
            fuel: 5_000_000,
            stack: 16 << 20,
            outputs: 10_000,
            output_depth: 100,
            max_len: 64 << 10,
            max_nesting: 256,
            memory: 256 << 20,
        }
    }
}

/// Native filters left out: they read the environment or the system's time zone files, write
/// output or stop the process.
const DENIED_FUNS: [&str; 7] = [
    "env",
    "debug_empty",
    "stderr_empty",
    "halt",
    "input_filename",
    "localtime",
    "strflocaltime",
];
/// Natives of jaq-core and jaq-std replaced by ours (`natives.rs`): `range/3` loops without
/// evaluating terms, so ours charges fuel; the regular expression natives collect every match
/// before charging any. (jaq-json's natives work on its own value type; ours replace all of
/// them.)
const REPLACED_FUNS: [&str; 4] = ["range", "matches", "split_matches", "split_"];
/// Definitions left out, for the same reasons.
const DENIED_DEFS: [&str; 5] = ["debug", "stderr", "halt", "halt_error", "input"];
/// Definitions replaced by our natives: `tostring` (`"\(.)"` in jaq) writes JSON unbounded.
const REPLACED_DEFS: [&str; 1] = ["tostring"];

type D = Guarded;

/// The data kind of our runs: jaq's JSON values inside [`Jv`], and as global data the program's
/// look-up table together with the run's [`Guard`].
pub(crate) struct Guarded;

impl DataT for Guarded {
    type V<'a> = Jv;
    type Data<'a> = GuardedData<'a>;
}

/// The global data of a run.
#[derive(Clone)]
pub(crate) struct GuardedData<'a> {
    lut: &'a jaq_core::Lut<Guarded>,
    guard: &'a Guard,
}

impl<'a> HasLut<'a, Guarded> for GuardedData<'a> {
    /// jaq calls this for every term it evaluates: the hook of every limit.
    fn lut(&self) -> &'a jaq_core::Lut<Guarded> {
        self.guard.step();
        self.lut
    }
}

/// The limits of one run, checked on every step.
pub(crate) struct Guard {
    stop: Arc<AtomicBool>,
    fuel: Cell<u64>,
    /// The stack address at the start of the run.
    top: usize,
    /// How far below `top` the stack may grow.
    stack: usize,
    /// Bytes the run's values hold now (see `jq/value.rs`), and the most they may hold.
    memory: Cell<usize>,
    max_memory: usize,
    /// Elements walked since the last step (a step every [`TICKS_PER_STEP`]).
    ticks: Cell<u32>,
}

/// How many elements a native walks (compares, copies, writes) per step of fuel.
const TICKS_PER_STEP: u32 = 16;

/// Why a run was stopped: the payload it unwinds with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Time,
    Fuel,
    Depth,
    Memory,
    Text,
}

thread_local! {
    /// The guard of the run on this thread, for what jaq calls without the run's data (value
    /// operations). Set for the length of [`Program::run_here`].
    static GUARD: RefCell<Option<Rc<Guard>>> = const { RefCell::new(None) };
}

/// Calls `f` with the guard of the run on this thread, if there is one.
fn with_guard<R>(f: impl FnOnce(&Guard) -> R) -> Option<R> {
    GUARD
        .try_with(|g| g.borrow().as_deref().map(f))
        .ok()
        .flatten()
}

/// Clears [`GUARD`] when the run ends, however it ends.
struct GuardSet;

impl GuardSet {
    fn set(guard: Rc<Guard>) -> GuardSet {
        GUARD.with(|g| *g.borrow_mut() = Some(guard));
        GuardSet
    }
}

impl Drop for GuardSet {
    fn drop(&mut self) {
        let _ = GUARD.try_with(|g| g.borrow_mut().take());
    }
}

/// The address of a local of the caller's frame (how deep the stack is, on a stack growing down).
#[inline(always)]
fn stack_address() -> usize {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as usize
}

impl Guard {
    /// One step: stops the run (unwinding to [`Program::run_here`]) when it was told to stop,
    /// has no fuel left or uses too much stack.
    fn step(&self) {
        if self.stop.load(Ordering::Relaxed) {
            resume_unwind(Box::new(Stop::Time));
        }
        let fuel = self.fuel.get();
        if fuel == 0 {
            resume_unwind(Box::new(Stop::Fuel));
        }
        self.fuel.set(fuel - 1);
        if self.top.saturating_sub(stack_address()) > self.stack {
            resume_unwind(Box::new(Stop::Depth));
        }
    }

    /// One element walked by a native: a step every [`TICKS_PER_STEP`].
    fn tick(&self) {
        let t = self.ticks.get() + 1;
        if t >= TICKS_PER_STEP {
            self.ticks.set(0);
            self.step();
        } else {
            self.ticks.set(t);
        }
    }

    /// `bytes` more held by the run's values: stops the run past its memory.
    fn alloc(&self, bytes: usize) {
        let m = self.memory.get().saturating_add(bytes);
        if m > self.max_memory {
            resume_unwind(Box::new(Stop::Memory));
        }
        self.memory.set(m);
    }

    /// `bytes` given back (a value dropped).
    fn free(&self, bytes: usize) {
        self.memory.set(self.memory.get().saturating_sub(bytes));
    }

    /// How many more bytes the run's values may take.
    fn room(&self) -> usize {
        self.max_memory.saturating_sub(self.memory.get())
    }
}

/// Sets the stop flag when dropped: when the waiter gives up or goes away.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Evaluations whose thread is running.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many jq evaluations are running now (each on a thread of its own). A stopped evaluation
/// leaves this count when its thread ends; tests use it to see that stopped programs stop.
pub fn live_evaluations() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// Counts one live evaluation while it exists.
struct Live;

impl Live {
    fn enter() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `x` as text, cut at [`MAX_QUOTE`] bytes (formatting stops there, however large `x` is).
fn quote(x: &dyn std::fmt::Display) -> String {
    struct Capped(String);
    impl std::fmt::Write for Capped {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let room = MAX_QUOTE.saturating_sub(self.0.len());
            if s.len() <= room {
                self.0.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.0.push_str(&s[..end]);
            Err(std::fmt::Error)
        }
    }
    let mut w = Capped(String::new());
    if std::fmt::write(&mut w, format_args!("{x}")).is_err() {
        w.0.push('…');
    }
    w.0
}

/// A compiled program.
pub(crate) struct Program {
    filter: jaq_core::compile::Filter<Native<D>>,
    limits: Limits,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Program")
    }
}

impl Program {
    /// Parses and compiles a program under the default limits; the error says what is wrong
    /// and where.
    pub(crate) fn compile(code: &str) -> Result<Program, String> {
        Program::compile_with(code, Limits::default())
    }

    /// Parses and compiles a program that will run under `limits`.
    pub(crate) fn compile_with(code: &str, limits: Limits) -> Result<Program, String> {
        if code.len() > limits.max_len {
            return Err(format!(
                "the program is {} bytes long; the limit is {} bytes",
                code.len(),
                limits.max_len
            ));
        }
        check_nesting(code, limits.max_nesting)?;
        let filter = std::thread::scope(|s| {
            let compiling = std::thread::Builder::new()
                .name("flowgate-jq-compile".into())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(s, || compile_here(code))
                .map_err(|e| format!("cannot compile the program now: {e}"))?;
            compiling.join().unwrap_or_else(|p| {
                Err(format!(
                    "the program could not be compiled: {}",
                    panic_message(&*p)
                ))
            })
        })?;
        Ok(Program { filter, limits })
    }

    /// Runs the program on `input` with `$inputs` bound, on a thread of its own, within its
    /// limits; returns every value it gives, or the error it stops with. When the time limit
    /// passes, or this future is dropped, the run is told to stop, and its thread ends at its
    /// next step; nothing waits for that thread.
    pub(crate) async fn run(
        self: &Arc<Self>,
        input: Value,
        inputs: Value,
    ) -> Result<Vec<Value>, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.spawn(input, inputs, stop, move |r| {
            // The waiter may be gone: the values are then dropped on this thread.
            let _ = tx.send(r);
        })?;
        match tokio::time::timeout(self.limits.time, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the program stopped without an answer".into()),
            Err(_) => Err(self.time_message()),
        }
    }

    /// [`Program::run`] for callers that are not async (it blocks the calling thread).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn run_blocking(
        self: &Arc<Self>,
        input: Value,
        inputs: Value,
    ) -> Result<Vec<Value>, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.spawn(input, inputs, stop, move |r| {
            let _ = tx.send(r);
        })?;
        match rx.recv_timeout(self.limits.time) {
            Ok(result) => result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(self.time_message()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Err("the program stopped without an answer".into())
            }
        }
    }

    fn time_message(&self) -> String {
        format!(
            "the program ran longer than {} ms and was stopped",
            self.limits.time.as_millis()
        )
    }

    /// Starts a run on a new thread; `answer` gets its result on that thread.
    fn spawn(
        self: &Arc<Self>,
        input: Value,
        inputs: Value,
        stop: Arc<AtomicBool>,
        answer: impl FnOnce(Result<Vec<Value>, String>) + Send + 'static,
    ) -> Result<(), String> {
        let live = Live::enter();
        let program = self.clone();
        std::thread::Builder::new()
            .name("flowgate-jq".into())
            .stack_size(EVAL_STACK)
            .spawn(move || {
                let _live = live;
                answer(program.run_here(input, inputs, stop));
            })
            .map(drop)
            .map_err(|e| format!("cannot start the program: {e}"))
    }

    /// Runs the program on this thread, whose stack must be [`EVAL_STACK`] deep.
    fn run_here(
        &self,
        input: Value,
        inputs: Value,
        stop: Arc<AtomicBool>,
    ) -> Result<Vec<Value>, String> {
        let limits = self.limits;
        let guard = Rc::new(Guard {
            stop,
            fuel: Cell::new(limits.fuel),
            top: stack_address(),
            stack: limits.stack,
            memory: Cell::new(0),
            max_memory: limits.memory,
            ticks: Cell::new(0),
        });
        let _set = GuardSet::set(guard.clone());
        let guard = &*guard;
        let run = || -> Result<Vec<Value>, String> {
            let input = to_val(input)?;
            let inputs = to_val(inputs)?;
            let data = GuardedData {
                lut: &self.filter.lut,
                guard,
            };
            let ctx = Ctx::<D>::new(data, Vars::new([inputs]));
            let mut out = Vec::new();
            for item in self.filter.id.run((ctx, input)) {
                match item {
                    Ok(v) => out.push(from_val(&v.0, limits.output_depth, guard)?),
                    Err(exn) => {
                        return Err(match exn.get_err() {
                            Ok(e) => format!("the program failed: {}", quote(&e)),
                            Err(_) => "the program stopped".to_string(),
                        });
                    }
                }
                if out.len() > limits.outputs {
                    return Err(format!(
                        "the program gave more than {} values",
                        limits.outputs
                    ));
                }
            }
            Ok(out)
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(result) => result,
            Err(payload) => Err(match payload.downcast_ref::<Stop>() {
                Some(Stop::Time) => self.time_message(),
                Some(Stop::Fuel) => format!(
                    "the program took more than {} steps and was stopped",
                    limits.fuel
                ),
                Some(Stop::Depth) => format!(
                    "the program recursed too deeply (more than {} KiB of stack) and was stopped",
                    limits.stack >> 10
                ),
                Some(Stop::Memory) => format!(
                    "the program's values took more than {} MiB of memory and it was stopped",
                    limits.memory >> 20
                ),
                Some(Stop::Text) => format!(
                    "the program made a text longer than {} MiB (or nested more than {} deep) \
                     and was stopped",
                    MAX_TEXT >> 20,
                    MAX_WRITE_DEPTH
                ),
                None => format!("the program failed: {}", panic_message(&*payload)),
            }),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "an internal error".to_string()
    }
}

/// Refuses a program whose brackets (`(`, `[`, `{`, and `\(` in strings) nest deeper than
/// `max`, before the (recursive) parser sees it. Strings and comments are skipped; unbalanced
/// brackets are left to the parser to report.
fn check_nesting(code: &str, max: usize) -> Result<(), String> {
    #[derive(PartialEq)]
    enum Open {
        Bracket,
        Interpolation,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut in_string = false;
    let mut bytes = code.bytes().enumerate();
    while let Some((at, b)) = bytes.next() {
        let deeper = if in_string {
            match b {
                b'\\' => match bytes.next() {
                    Some((_, b'(')) => {
                        open.push(Open::Interpolation);
                        in_string = false;
                        true
                    }
                    _ => false,
                },
                b'"' => {
                    in_string = false;
                    false
                }
                _ => false,
            }
        } else {
            match b {
                b'"' => {
                    in_string = true;
                    false
                }
                b'#' => {
                    for (_, b) in bytes.by_ref() {
                        if b == b'\n' {
                            break;
                        }
                    }
                    false
                }
                b'(' | b'[' | b'{' => {
                    open.push(Open::Bracket);
                    true
                }
                b')' | b']' | b'}' => {
                    if open.pop() == Some(Open::Interpolation) {
                        in_string = true;
                    }
                    false
                }
                _ => false,
            }
        };
        if deeper && open.len() > max {
            return Err(format!(
                "the program nests brackets more than {max} deep (at byte {at}); the limit is {max}"
            ));
        }
    }
    Ok(())
}

/// Parses and compiles on this thread (one with a large stack).
fn compile_here(code: &str) -> Result<jaq_core::compile::Filter<Native<D>>, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .filter(|d| !DENIED_DEFS.contains(&d.name) && !REPLACED_DEFS.contains(&d.name));
    let funs = jaq_core::funs::<D>()
        .chain(jaq_std::funs::<D>())
        .filter(|(name, _, _)| !DENIED_FUNS.contains(name) && !REPLACED_FUNS.contains(name))
        .chain(natives::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errs| load_error(code, errs))?;
    Compiler::default()
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
        })
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

/// A value passed to the run, charged to its memory.
fn to_val(v: Value) -> Result<Jv, String> {
    serde_json::from_value(v)
        .map(Jv::charged)
        .map_err(|e| format!("cannot pass the value to the program: {e}"))
}

/// Converts a result back to JSON; a value nested deeper than `depth` is an error (it could not
/// be stored or sent back, and converting it would recurse as deep). Each array or object
/// element is a step of the run: values that share parts can be exponentially larger than the
/// steps that built them (`reduce range(40) as $i (0; [., .])`), and their conversion is bounded
/// by the fuel and stopped by the stop flag like the rest of the run.
fn from_val(v: &Val, depth: usize, guard: &Guard) -> Result<Value, String> {
    use jaq_std::ValT as _;
    let deeper = |item: &Val| {
        guard.step();
        if depth == 0 {
            Err("the program gave a value nested too deeply".to_string())
        } else {
            from_val(item, depth - 1, guard)
        }
    };
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
        Val::Arr(items) => Value::Array(items.iter().map(deeper).collect::<Result<_, _>>()?),
        Val::Obj(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, item) in map.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => {
                        return Err(format!(
                            "the program gave an object key that is not a string: {}",
                            quote(other)
                        ));
                    }
                };
                out.insert(key, deeper(item)?);
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
        Arc::new(Program::compile(code)?).run_blocking(input, json!({"who": "ada"}))
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
        // Our `range` and `fromjson` behave as jaq's.
        for (code, expected) in [
            ("[range(4)]", json!([0, 1, 2, 3])),
            ("[range(0; 10; 3)]", json!([0, 3, 6, 9])),
            ("[range(5; 0; -2)]", json!([5, 3, 1])),
            ("[range(1; 0)]", json!([])),
            ("[range(0; 1; 0.25)]", json!([0, 0.25, 0.5, 0.75])),
            (
                "[\"[1, {\\\"a\\\": 2}]\" | fromjson]",
                json!([[1, {"a": 2}]]),
            ),
        ] {
            assert_eq!(run(code, json!(null)).unwrap(), vec![expected], "{code}");
        }
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
            "localtime",
            "strflocaltime(\"%Y\")",
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

#[cfg(test)]
mod hostile {
    //! Programs written to hurt the process: each must end in an error, and the test process
    //! must live on.
    use super::*;
    use serde_json::json;
    use std::sync::mpsc;

    /// Small fuel and memory, and a time limit that only detects a hang.
    fn small() -> Limits {
        Limits {
            fuel: 300_000,
            time: Duration::from_secs(60),
            memory: 16 << 20,
            ..Limits::default()
        }
    }

    fn run_with(code: &str, limits: Limits) -> Result<Vec<Value>, String> {
        Arc::new(Program::compile_with(code, limits)?).run_blocking(json!(null), json!({}))
    }

    fn fails_with(code: &str, limits: Limits, expected: &[&str]) {
        match run_with(code, limits) {
            Ok(v) => panic!("{code}: gave {v:?}"),
            Err(e) => assert!(
                expected.iter().any(|x| e.contains(x)),
                "{code}: {e} (expected one of {expected:?})"
            ),
        }
    }

    #[test]
    fn deep_brackets_are_refused_before_parsing() {
        let n = 1000;
        for (open, close) in [("(", ")"), ("[", "]"), ("{\"a\":", "}"), ("\"\\(", ")\"")] {
            let code = format!("{}1{}", open.repeat(n), close.repeat(n));
            let e = Program::compile(&code).unwrap_err();
            assert!(
                e.contains("nests brackets more than 256 deep"),
                "{open}: {e}"
            );
        }
        let ok = format!("{}1{}", "(".repeat(256), ")".repeat(256));
        assert_eq!(run_with(&ok, small()).unwrap(), vec![json!(1)]);
        // Brackets in strings and comments do not count.
        let quoted = format!("\"{}\" | length # {}", "(".repeat(1000), "[".repeat(1000));
        assert_eq!(run_with(&quoted, small()).unwrap(), vec![json!(1000)]);
    }

    #[test]
    fn long_programs_are_refused() {
        let code = format!("1{}", " ".repeat(64 << 10));
        let e = Program::compile(&code).unwrap_err();
        assert!(e.contains("the limit is 65536 bytes"), "{e}");
    }

    #[test]
    fn nesting_without_brackets_compiles_or_fails_cleanly() {
        // Up to the length limit, with nothing for the bracket check to see.
        for (unit, end) in [
            ("1|", "1"),
            ("1,", "1"),
            ("1+", "1"),
            ("try ", "1"),
            ("-", "1"),
            (". as $x|", "1"),
            ("def f: ", "1"),
            ("if 1 then ", "1"),
            ("reduce 1 as $x ", "1"),
            (".a", ""),
        ] {
            let n = (60 << 10) / unit.len();
            let code = format!("{}{end}", unit.repeat(n));
            // Whatever the outcome (most do not parse, some do and recurse too deeply), it
            // is an answer.
            let _ = run_with(&code, small());
        }
        let _ = run_with(&format!("1{}", "?".repeat(60 << 10)), small());
    }

    #[test]
    fn endless_recursion_is_stopped() {
        for code in [
            "def f: 1 + f; f",
            "def f: [f]; f",
            "def f: {a: f}; f",
            "def f: f + 1; f",
            "def f: (f | f); f",
            "[recurse([.])]",
            "[recurse(.; true)] | length",
        ] {
            fails_with(code, small(), &["recursed too deeply", "steps"]);
        }
    }

    #[test]
    fn endless_loops_run_out_of_fuel() {
        for code in [
            "last(range(1e15))",
            "[range(1e9)] | length",
            "[range(0; 10; 0)]",
            "[range(0; 1; 1e-300)] | length",
            "[repeat(1)]",
            "[limit(1e9; repeat(1))] | length",
            "skip(1e15; range(1e15))",
            "def f: f; f",
            "until(false; .)",
            "[while(true; .)] | length",
            "reduce range(1e15) as $x (0; . + $x)",
            "last(foreach range(1e15) as $x (0; . + 1))",
            "[.[]?] | first(repeat(empty))",
        ] {
            fails_with(code, small(), &["steps"]);
        }
    }

    #[test]
    fn a_stopped_run_ends_its_thread() {
        let limits = Limits {
            fuel: u64::MAX,
            ..Limits::default()
        };
        let p = Arc::new(Program::compile_with("last(range(1e15))", limits).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        p.spawn(json!(null), json!({}), stop.clone(), move |r| {
            tx.send(r).unwrap()
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        // The thread answers once it sees the flag: it stopped computing. (The bound only
        // detects a hang.)
        let answer = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(answer.unwrap_err().contains("was stopped"));

        // Through the time limit: the waiter gives up and the thread stops too.
        let limits = Limits {
            time: Duration::from_millis(200),
            ..limits
        };
        let p = Arc::new(Program::compile_with("last(range(1e15))", limits).unwrap());
        let e = p.run_blocking(json!(null), json!({})).unwrap_err();
        assert!(e.contains("ran longer than 200 ms"), "{e}");
    }

    #[test]
    fn deep_values_are_refused_and_dropped_safely() {
        // Deeper than a result may be.
        for code in [
            "reduce range(1000) as $i (null; [.])",
            "reduce range(1000) as $i (null; {a: .})",
        ] {
            fails_with(code, small(), &["nested too deeply"]);
        }
        // As deep as the default fuel allows, then dropped on the evaluation thread (while
        // unwinding, or when the program throws it away). The time limit only detects a hang
        // here (unoptimized builds are slow).
        let default_fuel = Limits {
            time: Duration::from_secs(120),
            ..Limits::default()
        };
        for code in [
            "reduce range(1e8) as $i (null; [.])",
            "reduce range(1e8) as $i (null; {a: .}) | 0",
            "[null, 0] | until(false; [[.[0]], .[1] + 1])",
        ] {
            fails_with(code, default_fuel, &["steps"]);
        }
        assert_eq!(
            run_with("reduce range(1e6) as $i (null; [.]) | 0", default_fuel).unwrap(),
            vec![json!(0)]
        );
    }

    #[test]
    fn fromjson_refuses_deep_json() {
        for code in [
            "\"[\" * 1000000 | fromjson",
            "(\"[\" * 1000000 + \"]\" * 1000000) | fromjson",
            "(\"{\\\"a\\\":\" * 100000) | fromjson",
        ] {
            fails_with(code, small(), &["nested more than 1000 deep"]);
        }
        assert_eq!(
            run_with("\"[1, {\\\"a\\\": \\\"]]\\\"}] 2\" | [fromjson]", small()).unwrap(),
            vec![json!([[1, {"a": "]]"}], 2])]
        );
        fails_with("\"[1, x\" | [fromjson]", small(), &["cannot parse"]);
        assert_eq!(
            run_with("\"12\" | tonumber", small()).unwrap(),
            vec![json!(12)]
        );
    }

    #[test]
    fn shared_values_are_converted_within_the_fuel() {
        // 2^40 leaves built in 40 steps: converting the result is bounded by the fuel too.
        fails_with("reduce range(40) as $i (0; [., .])", small(), &["steps"]);
    }

    #[test]
    fn natives_driven_by_numbers_answer() {
        // Natives whose work a number in the program drives: each answers (a value or an
        // error; a panic inside jaq is caught as an error), within the fuel.
        for code in [
            "100000000000000000 | gmtime",
            "1e300 | todate",
            "-1e300 | todate",
            "[1e300, 1, 1, 0, 0, 0, 0, 0] | mktime",
            "\"9999999-01-01T00:00:00Z\" | fromdate",
            "[1114112] | implode",
            "[-1e18] | implode",
            "[range(1000)] | .[1e18:]",
            "[range(1000)] | .[-1e18:1e18] | length",
            "\"abc\" | .[1e18:]",
            "[1, 2] | .[1e18]",
            "[1, 2] | .[1e18] = 1",
            "null | .[1e9] = 1",
            "[limit(-1; 1, 2)]",
            "[limit(1e18; 1, 2)]",
            "nth(1e18; 1, 2)",
            "[skip(1e18; range(10))]",
            "pow(2; 1e10)",
            "ldexp(1; 1e10)",
            "1e300 | floor",
            "\"abc\" | [splits(\"\")] | length",
            "\"abc\" | indices(\"\")",
            "\"a\" | test(\"a{100000}{100000}\")",
            "\"===\" | @base64d",
            "\"abc\" | ltrimstr(1e18)",
            "[1, 2] | combinations(1e18) | length",
            "[[1, 2], [3]] | [combinations] | length",
            "[range(10)] | [paths] | length",
            "{} | getpath([range(1e5)] | map(\"a\"))",
            "[range(1e5)] as $p | {} | try setpath($p; 1) catch \"refused\"",
            "[range(5)] | tostream? // 1",
            "1e18 | tostring | length",
            "[range(30)] | transpose? // 1",
            "\"x\" | ascii_downcase | utf8bytelength",
            "\"abc\" | sub(\"(?<x>b)\"; \"\\(.x)\" * 3)?",
        ] {
            let _ = run_with(code, small());
        }
    }

    #[test]
    fn shared_values_are_written_within_bounds() {
        for code in [
            // 2^26 leaves: about 200 MB of text, past the bound (safe to run without it).
            "reduce range(26) as $i (0; [., .]) | tojson | length",
            "reduce range(60) as $i (0; [., .]) | tojson | length",
            "reduce range(60) as $i (0; [., .]) | tostring | length",
            "reduce range(60) as $i (0; [., .]) | @json | length",
            "reduce range(60) as $i (0; {a: ., b: .}) | tojson | length",
        ] {
            fails_with(code, small(), &["steps", "longer than"]);
        }
        // An error quoting such a value: its message is cut short.
        let e = run_with("reduce range(60) as $i (0; [., .]) | error(.)", small()).unwrap_err();
        assert!(e.len() < 1200 && e.ends_with('…'), "{e}");
    }

    #[test]
    fn deep_values_are_not_written() {
        // As deep as the default fuel allows: `tojson` would recurse once per level.
        let default_fuel = Limits {
            time: Duration::from_secs(120),
            ..Limits::default()
        };
        for code in [
            "reduce range(1e6) as $i (null; [.]) | tojson | length",
            "reduce range(1e6) as $i (null; {a: .}) | tostring | length",
        ] {
            fails_with(code, default_fuel, &["nested more than 10000 deep"]);
        }
        assert_eq!(
            run_with(
                "reduce range(1000) as $i (null; [.]) | tojson | length",
                small()
            )
            .unwrap(),
            vec![json!(2004)]
        );
    }

    #[test]
    fn repetition_is_refused_before_it_allocates() {
        // jaq-json asks for `len * n` bytes at once: without the check the process aborts.
        for code in [
            "\"x\" * 1000000000000",
            "\"abc\" * 100000000000000000000000",
            "\"ab\" * 100000000",
            "[\"x\" * 10000000, \"y\" * 10000000] | length",
            "\"x\" * 1000 | . * 1000 | . * 1000",
        ] {
            fails_with(code, small(), &["memory"]);
        }
        assert_eq!(
            run_with("\"ab\" * 3", small()).unwrap(),
            vec![json!("ababab")]
        );
        assert_eq!(
            run_with("[\"x\" * 0, \"x\" * -1]", small()).unwrap(),
            vec![json!([null, null])]
        );
    }

    #[test]
    fn doubling_runs_out_of_memory() {
        // Each step doubles what the value holds: fuel alone would let it take all memory.
        for code in [
            "def f: . + . | f; [1] | f",
            "def f: . + . | f; \"ab\" | f",
            "[1] | until(false; . + .)",
            "reduce range(100) as $i (\"x\"; . + .)",
            "reduce range(100) as $i ([1, 2]; . + .) | length",
            "reduce range(100) as $i ([\"x\"]; . + map(. + .))",
            "\"ab\" | until(false; [., .] | tostring)",
        ] {
            fails_with(code, small(), &["memory"]);
        }
        // Big integers squared: refused past their size before they are computed.
        fails_with(
            "reduce range(100) as $i (3; . * .)",
            small(),
            &["more than 65536 bits"],
        );
        assert_eq!(
            run_with(
                "reduce range(6) as $i (3; . * .) | tostring | length",
                small()
            )
            .unwrap(),
            vec![json!(31)]
        );
    }

    #[test]
    fn memory_is_given_back() {
        // Values dropped give their memory back, so loops that build and drop, or copy and
        // drop, run in the memory of one turn (counted without giving back, each of these
        // would need far more than the limit).
        let tight = Limits {
            memory: 1 << 20,
            ..small()
        };
        for (code, expected) in [
            (
                "reduce range(5000) as $i (0; . + ([range(10)] | length))",
                json!(50000),
            ),
            (
                "reduce range(3000) as $i ([]; . + [$i]) | length",
                json!(3000),
            ),
            (
                "reduce range(3000) as $i (\"\"; . + \"x\") | length",
                json!(3000),
            ),
            (
                "reduce range(3000) as $i ({}; . + {(\"k\" + ($i | tostring)): $i}) | length",
                json!(3000),
            ),
            (
                "reduce range(3000) as $i ({}; .[\"k\\($i)\"] = $i) | length",
                json!(3000),
            ),
            (
                "[range(3000)] | reduce range(3000) as $i (.; .[$i] += 1) | add",
                json!(4501500),
            ),
            (
                "reduce range(5000) as $i (0; (\"x\" * 1000 | length) + .)",
                json!(5000000),
            ),
            (
                "reduce range(5000) as $i (0; . + ([range(10)] | .[1]))",
                json!(5000),
            ),
            (
                "reduce range(3000) as $i (0; . + ({a: {b: [range(10)]}} * {a: {c: $i}} | .a.c))",
                json!(4498500),
            ),
        ] {
            assert_eq!(run_with(code, tight), Ok(vec![expected]), "{code}");
        }
        // Holding them all at once does not fit.
        fails_with("[range(3000) | \"x\" * 1000]", tight, &["memory"]);
    }

    /// The run ends with an error of its own (a limit or a type error), not by its time limit.
    fn ends_with_an_error(code: &str) {
        let limits = Limits {
            fuel: 50_000,
            ..small()
        };
        match run_with(code, limits) {
            Ok(v) => panic!("{code}: gave {v:?}"),
            Err(e) => assert!(!e.contains("ran longer"), "{code}: {e}"),
        }
    }

    #[test]
    fn shared_values_are_walked_within_the_fuel() {
        // 2^60 leaves in 60 steps, little memory: whatever walks it (comparing, sorting,
        // writing, merging) steps the run and stops with it.
        for tail in [
            ". == .",
            ". < .",
            "sort",
            "unique",
            "group_by(.)",
            "unique_by(.)",
            "min",
            "max",
            "\"\\(.)\"",
            "@json",
            "@text",
            "@base64",
            "@html",
            "@sh",
            "tostring | length",
            "flatten | length",
            "[paths] | length",
            "[..] | length",
            "tojson",
            "contains(.)",
            "inside(.)",
            "indices([.[0]])",
            "index([.[0]])",
            ". - .",
            "bsearch(.[0])",
            "tobytes",
            "walk(.) | 0",
            "{(tostring): 1}",
            "[.[]] == .",
            "getpath([0, 0, 0]) | tojson",
            ". as $x | [$x] | contains([$x])",
            "map(tojson) | join(\",\")",
            "[.[] | tostring] | length",
        ] {
            let code = format!("reduce range(60) as $i ([1]; [., .]) | {tail}");
            ends_with_an_error(&code);
        }
        for tail in [
            ". * .",
            ". == .",
            "to_entries | tojson",
            "contains(.)",
            ". + {c: .} | tojson",
        ] {
            let code = format!("reduce range(60) as $i ({{}}; {{a: ., b: .}}) | {tail}");
            ends_with_an_error(&code);
        }
        // What does not walk it answers.
        assert_eq!(
            run_with(
                "reduce range(60) as $i ([1]; [., .]) | [length, (.[0] | length)]",
                small()
            )
            .unwrap(),
            vec![json!([2, 2])]
        );
    }

    #[test]
    fn containers_are_not_object_keys() {
        for code in [
            "{([1]): 2}",
            "reduce range(60) as $i ([1]; [., .]) | {(.): 1}",
            "{} | .[[1]] = 1",
            "{} | has([1])",
        ] {
            fails_with(code, small(), &["object key", "cannot index"]);
        }
        assert_eq!(
            run_with("{} | .[[1]]?", small()).unwrap(),
            Vec::<Value>::new()
        );
    }

    #[test]
    fn global_regex_on_long_text_stays_within_memory() {
        // One match object per character: far more memory than the text.
        fails_with(
            "\"a\" * 1000000 | [match(\"\"; \"g\")] | length",
            small(),
            &["memory"],
        );
        fails_with(
            "\"a\" * 1000000 | [splits(\"\")] | length",
            small(),
            &["memory"],
        );
        fails_with(
            "\"a,\" * 1000000 | . / \",\" | length",
            small(),
            &["memory"],
        );
        assert_eq!(
            run_with(
                "\"a1b22\" | [match(\"[0-9]+\"; \"g\") | .string], gsub(\"[0-9]\"; \"-\")",
                small()
            )
            .unwrap(),
            vec![json!(["1", "22"]), json!("a-b--")]
        );
    }

    #[test]
    fn too_many_values() {
        fails_with("range(20000)", small(), &["more than 10000 values"]);
    }
}

#[cfg(test)]
mod props {
    //! A property test: random programs from a small grammar (nesting, recursion, `def`,
    //! `reduce`/`foreach`, `range` with big numbers, loops, string and path functions, string
    //! repetition, doubling (`A + A`), values that share parts (`[A, A]` in a loop), string
    //! interpolation, comparison, sorting, regular expressions) run under small limits. Every
    //! one must compile or be refused, and every run must end with values or an error through
    //! its fuel, stack or memory limit, never through the time limit (which would mean a loop
    //! that does not step) and never by killing the process.
    //!
    //! `FLOWGATE_FUZZ_CASES` sets the number of cases (default 64).
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use serde_json::json;

    fn leaf() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            ".",
            "1",
            "0",
            "-1",
            "0.5",
            "1e15",
            "1e300",
            "\"ab\"",
            "\"a,b\"",
            "null",
            "true",
            "[]",
            "{}",
            "[1, \"a\", null]",
            "{\"a\": [1, 2]}",
            "$inputs",
            ".[]?",
            ".a?",
            ".[0]?",
            "empty",
            "range(1e15)",
            "range(1e9; 0; -1)",
            "range(0; 10; 0)",
            "range(0; 1; 1e-300)",
            "$__loc__",
            "length?",
            "keys?",
            "to_entries?",
            "explode?",
            "implode?",
            "ascii_downcase?",
            "fromjson?",
            "error(\"x\")",
            "$x",
            "f",
        ])
        .prop_map(String::from)
    }

    fn program() -> impl Strategy<Value = String> {
        leaf().prop_recursive(6, 48, 3, |a| {
            let lit = prop::sample::select(vec!["1", "\"x\"", "[1]", "{\"b\": 1}", "null", "1e15"]);
            let n = prop::sample::select(vec!["0", "3", "1e9", "1e15", "-1"]);
            prop_oneof![
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} | {y})")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x}, {y})")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} // {y})")),
                (a.clone(), lit.clone()).prop_map(|(x, l)| format!("({x} + {l})")),
                (a.clone(), lit.clone()).prop_map(|(x, l)| format!("({x} - {l})")),
                (a.clone(), lit).prop_map(|(x, l)| format!("({x} == {l})")),
                a.clone().prop_map(|x| format!("[{x}]")),
                a.clone().prop_map(|x| format!("{{a: {x}}}")),
                a.clone().prop_map(|x| format!("{{(\"k\" + \"1\"): {x}}}")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("(def f: {x}; {y})")),
                a.clone().prop_map(|x| format!("(def f: {x} | f; f)")),
                a.clone()
                    .prop_map(|x| format!("(def f: ({x}), f; [limit(5; f)])")),
                a.clone()
                    .prop_map(|x| format!("(def f($n): {x} | f($n + 1); f(0))")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} as $x | {y})")),
                (a.clone(), a.clone(), a.clone())
                    .prop_map(|(x, y, z)| format!("reduce {x} as $x ({y}; {z})")),
                (a.clone(), a.clone(), a.clone())
                    .prop_map(|(x, y, z)| format!("foreach {x} as $x ({y}; {z})")),
                (a.clone(), a.clone(), a.clone())
                    .prop_map(|(x, y, z)| format!("if {x} then {y} else {z} end")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("try {x} catch {y}")),
                a.clone().prop_map(|x| format!("({x})?")),
                (n.clone(), a.clone()).prop_map(|(n, x)| format!("limit({n}; {x})")),
                (n.clone(), a.clone()).prop_map(|(n, x)| format!("skip({n}; {x})")),
                (n.clone(), a.clone()).prop_map(|(n, x)| format!("nth({n}; {x})")),
                a.clone().prop_map(|x| format!("first({x})")),
                a.clone().prop_map(|x| format!("last({x})")),
                a.clone().prop_map(|x| format!("[repeat({x})]")),
                a.clone().prop_map(|x| format!("[recurse({x})]")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("until({x}; {y})")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("[while({x}; {y})]")),
                a.clone().prop_map(|x| format!("map({x})?")),
                a.clone().prop_map(|x| format!("select({x})")),
                a.clone().prop_map(|x| format!("[{x}] | length")),
                a.clone()
                    .prop_map(|x| format!("label $out | {x} | ., break $out")),
                a.clone().prop_map(|x| format!("({x} | splits(\"a\"))?")),
                a.clone().prop_map(|x| format!("({x} | ltrimstr(\"a\"))")),
                a.clone().prop_map(|x| format!("({x} | tojson)")),
                a.clone().prop_map(|x| format!("({x} | tostring | length)")),
                a.clone().prop_map(|x| format!("({x} | test(\"a+\"))?")),
                a.clone()
                    .prop_map(|x| format!("getpath([\"a\", 0])? // {x}")),
                a.clone()
                    .prop_map(|x| format!("(setpath([\"a\", \"b\"]; {x}))?")),
                (a.clone(), n.clone()).prop_map(|(x, n)| format!("({x} * {n})?")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} * {y})?")),
                a.clone().prop_map(|x| format!("({x} | . + .)?")),
                a.clone()
                    .prop_map(|x| format!("(def f: . + . | f; {x} | f)?")),
                a.clone()
                    .prop_map(|x| format!("reduce range(60) as $i ({x}; [., .])")),
                a.clone()
                    .prop_map(|x| format!("reduce range(60) as $i ({x}; {{a: ., b: .}})")),
                a.clone().prop_map(|x| format!("\"<\\({x})>\"")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} < {y})")),
                a.clone().prop_map(|x| format!("({x} | sort)?")),
                a.clone().prop_map(|x| format!("({x} | unique)?")),
                a.clone().prop_map(|x| format!("({x} | group_by(.))?")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} | contains({y}))?")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} | indices({y}))?")),
                (a.clone(), a.clone()).prop_map(|(x, y)| format!("({x} - {y})?")),
                a.clone().prop_map(|x| format!("({x} | @base64)?")),
                a.clone().prop_map(|x| format!("({x} | add)?")),
                a.clone().prop_map(|x| format!("({x} | flatten)?")),
                a.clone().prop_map(|x| format!("({x} | keys)?")),
                a.clone().prop_map(|x| format!("[{x} | paths?]")),
                a.clone()
                    .prop_map(|x| format!("({x} | [match(\"a*\"; \"g\")])?")),
                a.clone()
                    .prop_map(|x| format!("({x} | gsub(\"\"; \"ab\"))?")),
                a.clone().prop_map(|x| format!(".a |= ({x})")),
                a.prop_map(|x| format!("path({x})?")),
            ]
        })
    }

    fn cases() -> u32 {
        std::env::var("FLOWGATE_FUZZ_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: cases(),
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
            ..ProptestConfig::default()
        })]

        #[test]
        fn random_programs_always_end(code in program(), input in prop::sample::select(vec![
            json!(null), json!(1), json!("ab"), json!([1, [2, "a"]]), json!({"a": {"b": [1]}}),
        ])) {
            let limits = Limits {
                fuel: 20_000,
                time: Duration::from_secs(30),
                memory: 32 << 20,
                ..Limits::default()
            };
            let Ok(p) = Program::compile_with(&code, limits) else {
                return Ok(());
            };
            let result = Arc::new(p).run_blocking(input, json!({"who": "ada"}));
            if let Err(e) = &result {
                prop_assert!(!e.contains("ran longer"), "{code}: {e}");
            }
        }
    }
}
