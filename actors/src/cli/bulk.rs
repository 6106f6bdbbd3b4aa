//! Bulk imports (`bulk-create`, `bulk-upsert`): large ones in batches with a progress bar and
//! one merged result; the record an atomic import's unique conflict is about; the summary a
//! file or piped import prints.

use super::backend::Backend;
use super::output::{self, Failure};
use flowgate::{ModelInfo, OpKind};
use serde_json::{Map, Value, json};

/// `data[3].title` seen from a batch that starts at `offset`: `data[1003].title`.
fn shift_field(field: &str, offset: usize) -> String {
    let Some(rest) = field.strip_prefix("data[") else {
        return field.to_string();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return field.to_string();
    };
    match n.parse::<usize>() {
        Ok(i) => format!("data[{}]{tail}", i + offset),
        Err(_) => field.to_string(),
    }
}

fn shift_failure(mut f: Failure, offset: usize) -> Failure {
    if let Some(field) = f.0["field"].as_str() {
        f.0["field"] = json!(shift_field(field, offset));
    }
    f
}

/// Adds one batch's result to the sum: counts add up, ids follow each other, error indexes
/// count from the start of the whole import.
fn merge(acc: &mut Option<Value>, mut part: Value, offset: usize) {
    if let Some(errors) = part.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            if let Some(i) = e["index"].as_u64() {
                e["index"] = json!(i + offset as u64);
            }
            if let Some(f) = e["error"]["field"].as_str() {
                e["error"]["field"] = json!(shift_field(f, offset));
            }
        }
    }
    let Some(sum) = acc.as_mut().and_then(Value::as_object_mut) else {
        *acc = Some(part);
        return;
    };
    let Value::Object(part) = part else { return };
    for (k, v) in part {
        match (sum.get_mut(&k), v) {
            (Some(Value::Number(a)), Value::Number(b)) => {
                if let (Some(a_), Some(b_)) = (a.as_u64(), b.as_u64()) {
                    *a = (a_ + b_).into();
                }
            }
            (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
            (None, v) => {
                sum.insert(k, v);
            }
            _ => {}
        }
    }
}

fn written(part: &Value) -> u64 {
    ["inserted", "updated"]
        .iter()
        .filter_map(|k| part[k].as_u64())
        .sum()
}

/// A bulk import larger than one batch: locally, every batch in one transaction (all or none
/// for an atomic import, rolled back for a dry run); remotely, one request per batch (each
/// commits on its own; a failure stops the import and its error tells how many records were
/// written before). Either way, one result of the operation's shape, with a progress bar on a
/// terminal.
pub(crate) async fn run_batched(
    backend: &Backend,
    m: &ModelInfo,
    op: OpKind,
    mut params: Value,
    batch: usize,
) -> Result<Value, ImportError> {
    let records = match params["data"].take() {
        Value::Array(r) => r,
        _ => Vec::new(),
    };
    let dry_run = params["dry_run"] == true;
    let bar = output::progress(records.len() as u64, "records");
    let mut batches = Vec::new();
    let mut starts = Vec::new();
    for (i, chunk) in records.chunks(batch).enumerate() {
        let mut p = params.clone();
        p["data"] = Value::Array(chunk.to_vec());
        if let (Backend::Local(_), Some(obj)) = (backend, p.as_object_mut()) {
            // The one transaction rolls back at the end instead.
            obj.remove("dry_run");
        }
        batches.push(p);
        starts.push(i * batch);
    }
    let sizes: Vec<u64> = records.chunks(batch).map(|c| c.len() as u64).collect();
    let mut acc: Option<Value> = None;
    match backend {
        Backend::Local(local) => {
            let mut failed_at = 0;
            let each = |i: usize, result: Result<Value, Failure>| {
                failed_at = i;
                let part = result.map_err(|f| shift_failure(f, starts[i]))?;
                merge(&mut acc, part, starts[i]);
                bar.inc(sizes[i]);
                Ok(())
            };
            let done = local.run_batches(m, op, batches, dry_run, each).await;
            if let Err(f) = done {
                bar.abandon();
                let failed = starts[failed_at]..starts[failed_at] + sizes[failed_at] as usize;
                let record = locate_record(backend, m, &records, failed, &f).await;
                return Err(ImportError { failure: f, record });
            }
            if dry_run && let Some(obj) = acc.as_mut().and_then(Value::as_object_mut) {
                obj.insert("dry_run".into(), Value::Bool(true));
            }
        }
        Backend::Remote(_) => {
            let mut committed = 0;
            for (i, p) in batches.iter().enumerate() {
                match backend.run(m, op, p).await {
                    Ok(part) => {
                        committed += written(&part);
                        merge(&mut acc, part, starts[i]);
                        bar.inc(sizes[i]);
                    }
                    Err(f) => {
                        bar.abandon();
                        let failed = starts[i]..starts[i] + sizes[i] as usize;
                        let f = shift_failure(f, starts[i]);
                        let record = locate_record(backend, m, &records, failed, &f).await;
                        let mut f = f;
                        if !dry_run && committed > 0 {
                            if f.0.get("details").is_none_or(Value::is_null) {
                                f.0["details"] = json!({});
                            }
                            if let Some(d) = f.0["details"].as_object_mut() {
                                d.insert("written_before".into(), json!(committed));
                            }
                        }
                        return Err(ImportError { failure: f, record });
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(acc.unwrap_or_else(|| json!({})))
}

/// A bulk import's result in a line or a few: `created 10000 records`, then each failed record
/// as `data[3].email: message`.
pub(crate) fn summary(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    let inserted = n("inserted");
    let mut text = format!(
        "created {inserted} record{}",
        if inserted == 1 { "" } else { "s" }
    );
    if n("updated") > 0 {
        text.push_str(&format!(", updated {}", n("updated")));
    }
    if n("skipped") > 0 {
        text.push_str(&format!(", skipped {}", n("skipped")));
    }
    let errors = v["errors"].as_array().map_or(&[][..], Vec::as_slice);
    if !errors.is_empty() {
        text.push_str(&format!(", {} failed", errors.len()));
    }
    if v["dry_run"] == true {
        text.push_str(" (dry run: nothing was kept)");
    }
    for e in errors {
        let at = format!("data[{}]", e["index"]);
        let field = match e["error"]["field"].as_str() {
            Some(f) if f.starts_with("data[") => f.to_string(),
            Some(f) => format!("{at}.{f}"),
            None => at,
        };
        let message = e["error"]["message"].as_str().unwrap_or("");
        text.push_str(&format!("\n{field}: {message}"));
    }
    text
}

/// The values of a unique set in a record, as a key to compare; None when one is missing (a
/// missing or null value conflicts with nothing).
fn key_of(record: &Value, set: &[&str]) -> Option<String> {
    let values: Option<Vec<&Value>> = set
        .iter()
        .map(|f| record.get(*f).filter(|v| !v.is_null()))
        .collect();
    values.map(|v| serde_json::to_string(&v).unwrap_or_default())
}

/// A failed import: the error object every channel gives, and the line that names the record
/// when the CLI found it (see [`locate_record`]).
pub(crate) struct ImportError {
    /// The operation's error.
    pub(crate) failure: Failure,
    /// `data[3].email: ... (data[1] has the same email)`.
    pub(crate) record: Option<String>,
}

impl From<Failure> for ImportError {
    fn from(failure: Failure) -> Self {
        ImportError {
            failure,
            record: None,
        }
    }
}

/// A unique conflict of an atomic bulk import names the unique set (`email`) but not the
/// record: the database refused the whole statement, and the store (on every channel) says no
/// more. The CLI finds the first record of `failed` (the batch that failed) whose values repeat
/// an earlier record of the import, or a record that exists, and gives the line that names it:
/// `data[3].email: an Author with this email already exists (data[1] has the same email)`. The
/// error object itself stays the one REST and MCP give.
pub(crate) async fn locate_record(
    backend: &Backend,
    m: &ModelInfo,
    records: &[Value],
    failed: std::ops::Range<usize>,
    f: &Failure,
) -> Option<String> {
    let field = f.0["field"].as_str()?;
    if f.code() != "conflict" || field.starts_with("data[") {
        return None;
    }
    let set: Vec<&str> = field.split(',').collect();
    if set.iter().any(|c| m.column(c).is_none()) {
        return None;
    }
    let failed = failed.start.min(records.len())..failed.end.min(records.len());
    let mut seen = std::collections::HashMap::new();
    let mut repeated = None;
    for (i, r) in records[..failed.end].iter().enumerate() {
        let Some(k) = key_of(r, &set) else { continue };
        match seen.get(&k) {
            Some(&first) if i >= failed.start => {
                repeated = Some((i, first));
                break;
            }
            Some(_) => {}
            None => {
                seen.insert(k, i);
            }
        }
    }
    let mut existing = None;
    let scan_end = repeated.map_or(failed.end, |(i, _)| i);
    'chunks: for start in (failed.start..scan_end).step_by(200) {
        let chunk = &records[start..(start + 200).min(scan_end)];
        let wanted: Vec<Value> = chunk
            .iter()
            .filter(|r| key_of(r, &set).is_some())
            .map(|r| {
                let obj: Map<String, Value> =
                    set.iter().map(|c| (c.to_string(), r[*c].clone())).collect();
                Value::Object(obj)
            })
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let mut params = json!({"filter": {"$or": wanted}, "fields": set, "limit": 1000});
        if m.soft_delete() {
            // A tombstone keeps its unique values.
            params["include_deleted"] = json!(true);
        }
        let Ok(page) = backend.run(m, OpKind::List, &params).await else {
            break;
        };
        let found: std::collections::HashSet<String> = page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| key_of(r, &set))
            .collect();
        for (j, r) in chunk.iter().enumerate() {
            if key_of(r, &set).is_some_and(|k| found.contains(&k)) {
                existing = Some(start + j);
                break 'chunks;
            }
        }
    }
    let message = f.0["message"].as_str().unwrap_or("");
    let (i, why) = match (existing, repeated) {
        (Some(i), _) => (i, format!("one exists with the same {field}")),
        (None, Some((i, first))) => (i, format!("data[{first}] has the same {field}")),
        (None, None) => return None,
    };
    Some(format!("data[{i}].{field}: {message} ({why})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_merge_into_one_result() {
        let mut acc = None;
        merge(
            &mut acc,
            json!({"inserted": 2, "skipped": 0, "ids": [1, 2], "errors": []}),
            0,
        );
        merge(
            &mut acc,
            json!({"inserted": 1, "skipped": 0, "ids": [3], "errors": [{"index": 1, "error": {"code": "validation", "field": "data[1].title"}}]}),
            2,
        );
        assert_eq!(
            acc.unwrap(),
            json!({"inserted": 3, "skipped": 0, "ids": [1, 2, 3], "errors": [{"index": 3, "error": {"code": "validation", "field": "data[3].title"}}]})
        );
        assert_eq!(shift_field("data[7].x", 1000), "data[1007].x");
        assert_eq!(shift_field("filter", 1000), "filter");
    }
}
