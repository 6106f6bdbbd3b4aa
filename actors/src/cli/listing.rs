//! `list --all` (every page, following `next_cursor`) and a listing as CSV (a header of the
//! fields, written page by page).

use super::backend::Backend;
use super::output::{self, Failure, Format};
use flowgate::{ModelInfo, OpKind};
use serde_json::{Value, json};

/// The records per page of `list --all` without `--limit`: the most a page holds.
const ALL_PAGE: u64 = 1000;

/// The columns of a listing in CSV: the id and the fields asked for, or every column.
pub(crate) fn list_columns(m: &ModelInfo, params: &Value) -> Vec<String> {
    match params["fields"].as_array() {
        Some(names) => {
            let mut out = vec![m.id().name().to_string()];
            for n in names.iter().filter_map(Value::as_str) {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
            out
        }
        None => m.columns.iter().map(|c| c.name().to_string()).collect(),
    }
}

/// `list --all`: every page, following `next_cursor`. CSV is written page by page (and stops
/// when stdout's reader goes away: None); other formats get one result, `{records, count?}`.
pub(crate) async fn list_all(
    backend: &Backend,
    m: &ModelInfo,
    mut params: Value,
    format: Format,
) -> Result<Option<Value>, Failure> {
    if params.get("limit").is_none() {
        params["limit"] = json!(ALL_PAGE);
    }
    let mut csv = (format == Format::Csv).then(|| output::Csv::new(Some(list_columns(m, &params))));
    let mut records = Vec::new();
    let mut count = None;
    loop {
        let mut page = backend.run(m, OpKind::List, &params).await?;
        if let Some(c) = page.get("count").cloned() {
            count.get_or_insert(c);
        }
        let got = match page["records"].take() {
            Value::Array(r) => r,
            _ => Vec::new(),
        };
        match &mut csv {
            Some(csv) => {
                if !csv.rows(got.iter().filter_map(Value::as_object).collect()) {
                    return Ok(None);
                }
            }
            None => records.extend(got),
        }
        let Some(cursor) = page.get("next_cursor").and_then(Value::as_str) else {
            break;
        };
        if let Some(p) = params.as_object_mut() {
            p.insert("cursor".into(), json!(cursor));
            // The first page skipped them; the cursor carries on from there.
            p.remove("offset");
            p.remove("count");
        }
    }
    if let Some(csv) = csv {
        csv.finish();
        return Ok(None);
    }
    let mut out = json!({ "records": records });
    if let Some(c) = count {
        out["count"] = c;
    }
    Ok(Some(out))
}
