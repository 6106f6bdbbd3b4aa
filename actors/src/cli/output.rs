//! What the command line prints: results as tables on a terminal or as JSON (the operation's
//! result, unchanged) for scripts; errors as the channel-wide error object on stderr; exit codes
//! by error code; progress bars on stderr.

use comfy_table::{Cell, ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

/// Exit codes: 0 ok, 2 usage errors (clap's), 3 validation, 4 not found, 5 conflict, 6 not
/// ready or unavailable, 7 unauthorized or forbidden, 8 rate limited, 1 anything else.
pub(crate) fn exit_code_of(code: &str) -> u8 {
    match code {
        "validation" | "payload_too_large" => 3,
        "not_found" => 4,
        "conflict" => 5,
        "not_ready" | "unavailable" => 6,
        "unauthorized" | "forbidden" | "tenant_required" => 7,
        "rate_limited" => 8,
        _ => 1,
    }
}

/// A failed command: the error object every channel carries, `{code, message, field?,
/// details?}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure(pub(crate) Value);

impl Failure {
    /// A failure with a code and a message.
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure(json!({"code": code, "message": message.into()}))
    }

    /// A usage error found after clap's parse (a bad `--data` file, say): exit code 2.
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::new("usage", message)
    }

    /// The error code.
    pub(crate) fn code(&self) -> &str {
        self.0["code"].as_str().unwrap_or("internal")
    }

    /// The process exit code.
    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.code() == "usage" {
            return ExitCode::from(2);
        }
        ExitCode::from(exit_code_of(self.code()))
    }
}

impl From<flowgate::Error> for Failure {
    fn from(e: flowgate::Error) -> Self {
        if let flowgate::Error::Internal(detail) = &e {
            tracing::error!(error = %detail, "internal error");
        }
        Failure(e.to_json())
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Pretty-printed JSON: exactly the operation's result.
    Json,
    /// Human-readable tables.
    Table,
    /// CSV: a header row of the fields, a row per record; nested JSON as JSON text.
    Csv,
}

impl Format {
    /// `--format` or `--json` wins, then `--table`; otherwise tables on a terminal and JSON
    /// when stdout is a pipe or a file.
    pub(crate) fn choose(format: Option<Format>, json: bool, table: bool) -> Format {
        if let Some(f) = format {
            f
        } else if json {
            Format::Json
        } else if table || std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        }
    }
}

/// Prints a result.
pub(crate) fn print(value: &Value, format: Format) {
    match format {
        Format::Json => {
            line(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
        }
        Format::Table => {
            let text = render(value);
            if !text.is_empty() {
                line(&text);
            }
        }
        Format::Csv => {
            let mut csv = Csv::new(None);
            csv.rows(rows_of(value));
            csv.finish();
        }
    }
}

/// Writes bytes to stdout; false when its reader went away (`flowgate ... | head -1`), which is
/// no error worth a panic (`println!` would make one of it) nor a message: the command stops
/// writing and exits quietly.
pub(crate) fn write_out(bytes: &[u8]) -> bool {
    use std::io::Write;
    if stdout_closed() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(_) => {
            STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a write to stdout failed (its reader went away): a command that pages stops.
pub(crate) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes a line to stdout (see [`write_out`]).
pub(crate) fn line(text: &str) -> bool {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    write_out(&bytes)
}

/// The rows a result prints as in CSV: a page's `records`, a list of objects, the one list of
/// objects of a result (`models`, `workflows`), or the result itself as one row.
fn rows_of(value: &Value) -> Vec<&Map<String, Value>> {
    fn objects(items: &[Value]) -> Option<Vec<&Map<String, Value>>> {
        items.iter().map(Value::as_object).collect()
    }
    match value {
        Value::Array(items) => objects(items).unwrap_or_default(),
        Value::Object(map) => {
            if let Some(Value::Array(items)) = map.get("records")
                && let Some(rows) = objects(items)
            {
                return rows;
            }
            let lists: Vec<&Vec<Value>> = map
                .values()
                .filter_map(|v| v.as_array().filter(|a| a.iter().all(Value::is_object)))
                .filter(|a| !a.is_empty())
                .collect();
            if let [one] = lists.as_slice()
                && let Some(rows) = objects(one)
            {
                return rows;
            }
            vec![map]
        }
        _ => Vec::new(),
    }
}

/// CSV on stdout, written as rows come (a paged listing writes each page as it arrives): the
/// header is the first rows' keys (or the columns given), in their order; a key that only later
/// rows have gets no column.
pub(crate) struct Csv {
    columns: Option<Vec<String>>,
    header_written: bool,
}

impl Csv {
    /// A CSV output; `columns` fixes the header (a listing's fields), else the first rows give it.
    pub(crate) fn new(columns: Option<Vec<String>>) -> Csv {
        Csv {
            columns,
            header_written: false,
        }
    }

    /// Writes rows (and the header before the first); false when stdout's reader went away.
    pub(crate) fn rows(&mut self, rows: Vec<&Map<String, Value>>) -> bool {
        if self.columns.is_none() && !rows.is_empty() {
            let mut columns: Vec<String> = Vec::new();
            for row in &rows {
                for k in row.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            self.columns = Some(columns);
        }
        let Some(columns) = &self.columns else {
            return !stdout_closed();
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        if !self.header_written {
            let _ = w.write_record(columns);
            self.header_written = true;
        }
        for row in rows {
            let _ = w.write_record(columns.iter().map(|c| csv_cell(row.get(c))));
        }
        match w.into_inner() {
            Ok(bytes) => write_out(&bytes),
            Err(_) => false,
        }
    }

    /// Writes the header when no row came (an empty listing with known columns).
    pub(crate) fn finish(mut self) -> bool {
        if self.header_written || self.columns.is_none() {
            return !stdout_closed();
        }
        self.rows(Vec::new())
    }
}

/// One value as CSV text: strings bare, null empty, nested lists and objects as JSON text.
fn csv_cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Prints a failure to stderr: the JSON error object `{"error": {...}}` for scripts, or one line
/// for people at a terminal (usage errors are always a line, as clap prints its own). Gives the
/// exit code.
pub(crate) fn fail(failure: &Failure, format: Format) -> ExitCode {
    if failure.code() == "usage" {
        // Like clap's own usage errors: text, exit code 2.
        eprintln!("error: {}", failure.0["message"].as_str().unwrap_or(""));
        return failure.exit_code();
    }
    let human = format == Format::Table && std::io::stderr().is_terminal();
    if human {
        let e = &failure.0;
        let field = e["field"]
            .as_str()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        eprintln!(
            "error [{}]{field}: {}",
            failure.code(),
            e["message"].as_str().unwrap_or("")
        );
        if let Some(d) = e.get("details").filter(|d| !d.is_null()) {
            eprintln!("  details: {d}");
        }
    } else {
        eprintln!("{}", json!({ "error": failure.0 }));
    }
    failure.exit_code()
}

/// [`fail`], with a line that says more (the record of an import an error is about): after the
/// line for people; before the JSON error object, which stays the last line for scripts (and
/// the same object REST and MCP give).
pub(crate) fn fail_noting(failure: &Failure, note: Option<&str>, format: Format) -> ExitCode {
    let Some(note) = note else {
        return fail(failure, format);
    };
    if format == Format::Table && std::io::stderr().is_terminal() {
        let code = fail(failure, format);
        eprintln!("  {note}");
        code
    } else {
        eprintln!("{note}");
        fail(failure, format)
    }
}

/// Renders any JSON result as text: objects as field/value tables, lists of objects as tables
/// with a column per key, nested lists of objects as tables of their own under their key.
pub(crate) fn render(value: &Value) -> String {
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => records_table(items),
        Value::Object(map) => render_object(map),
        other => cell_text(other),
    }
}

fn render_object(map: &Map<String, Value>) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut pairs = Table::new();
    style(&mut pairs);
    let mut has_pairs = false;
    for (key, v) in map {
        match v {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                blocks.push(format!("{key}:\n{}", records_table(items)));
            }
            Value::Array(items) if items.is_empty() && key == "records" => {
                blocks.push("(no records)".to_string());
            }
            _ => {
                pairs.add_row(vec![Cell::new(key), Cell::new(cell_text(v))]);
                has_pairs = true;
            }
        }
    }
    let mut out = Vec::new();
    // Lists first (a page of records), then the scalars (count, next_cursor) under them.
    out.extend(blocks);
    if has_pairs {
        out.push(pairs.to_string());
    }
    out.join("\n")
}

fn records_table(items: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for item in items {
        if let Some(obj) = item.as_object() {
            for k in obj.keys() {
                if !columns.contains(k) {
                    columns.push(k.clone());
                }
            }
        }
    }
    let mut table = Table::new();
    style(&mut table);
    table.set_header(columns.iter().map(Cell::new));
    for item in items {
        table.add_row(
            columns
                .iter()
                .map(|c| Cell::new(item.get(c).map(cell_text).unwrap_or_default())),
        );
    }
    table.to_string()
}

fn style(table: &mut Table) {
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    // Off a terminal (`--table` into a file), wrap as on a wide one.
    let width = terminal_size().map_or(160, |(_, cols)| cols);
    table.set_width(width);
}

fn terminal_size() -> Option<(u16, u16)> {
    let term = console::Term::stdout();
    if term.is_term() {
        term.size_checked()
    } else {
        None
    }
}

/// One value as table text: strings bare, null as `null`, short lists of scalars joined, the
/// rest as compact JSON.
fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            const SHOWN: usize = 20;
            let mut parts: Vec<String> = items.iter().take(SHOWN).map(Value::to_string).collect();
            if items.len() > SHOWN {
                parts.push(format!("… ({} in all)", items.len()));
            }
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// A progress bar over `len` items on stderr, hidden unless stderr is a terminal. Counts and
/// the rate read as people write them: `1,234/10,000 records (1,234 records/s, eta 7s)`.
pub(crate) fn progress(len: u64, what: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {what} ({{rate}}, eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        let style = style.with_key(
            "rate",
            move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate_text(state.per_sec(), what));
            },
        );
        bar.set_style(style);
    }
    bar
}

/// A rate as people read it: whole units with thousands separators, `1,234 records/s`.
pub(crate) fn rate_text(per_sec: f64, what: &str) -> String {
    let whole = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    format!("{} {what}/s", indicatif::HumanCount(whole))
}

/// A spinner with a message on stderr, hidden unless stderr is a terminal.
pub(crate) fn spinner(message: impl Into<String>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}") {
        bar.set_style(style);
    }
    bar.set_message(message.into());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Logs to stderr; `RUST_LOG` wins over `default` (see `crate::logging`).
pub(crate) fn init_tracing(default: &str) {
    crate::logging::init(default);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_error_code() {
        assert_eq!(exit_code_of("validation"), 3);
        assert_eq!(exit_code_of("not_found"), 4);
        assert_eq!(exit_code_of("conflict"), 5);
        assert_eq!(exit_code_of("not_ready"), 6);
        assert_eq!(exit_code_of("unavailable"), 6);
        assert_eq!(exit_code_of("internal"), 1);
        assert_eq!(Failure::usage("x").exit_code(), ExitCode::from(2));
    }

    #[test]
    fn tables_show_records_and_scalars() {
        let page = json!({"records": [{"id": 1, "title": "Dune", "tags": ["a", "b"]}, {"id": 2, "title": null}], "count": 2});
        let text = render(&page);
        assert!(text.contains("Dune"), "{text}");
        assert!(text.contains(r#"["a", "b"]"#), "{text}");
        assert!(text.contains("count"), "{text}");
        let empty = render(&json!({"records": []}));
        assert!(empty.contains("(no records)"), "{empty}");
    }

    #[test]
    fn rates_are_rounded_with_separators() {
        assert_eq!(rate_text(1234.5678, "records"), "1,235 records/s");
        assert_eq!(rate_text(12.4, "records"), "12 records/s");
        assert_eq!(rate_text(f64::NAN, "records"), "0 records/s");
        assert_eq!(rate_text(1_234_567.0, "rows"), "1,234,567 rows/s");
    }

    #[test]
    fn csv_rows_of_results() {
        let page = json!({"records": [{"id": 1, "tags": ["a"]}], "next_cursor": "x"});
        assert_eq!(rows_of(&page).len(), 1);
        let models = json!({"models": [{"name": "A"}, {"name": "B"}]});
        assert_eq!(rows_of(&models).len(), 2);
        let one = json!({"count": 3});
        assert_eq!(rows_of(&one)[0]["count"], 3);
        assert_eq!(csv_cell(Some(&json!({"a": [1]}))), r#"{"a":[1]}"#);
        assert_eq!(csv_cell(Some(&Value::Null)), "");
    }
}
