//! BulkCreate, BulkUpdate, BulkDelete and BulkUpsert. They always run in a transaction (the
//! store's or the caller's), so `atomic` and `dry_run` are a matter of savepoints and rollback.

use super::name_conflict;
use super::params::Params;
use super::rows::{delete_stmt, insert_columns, insert_columns_with_id, new_row, update_sets};
use super::tenant;
use super::write::{conflict_target, equality_filter};
use crate::error::{Error, Result};
use crate::model::{Column, ModelInfo};
use crate::params::{MAX_RECORDS, RecordsText};
use crate::query::{Filter, parse_filter};
use crate::sql::{self, Conflict, Dialect, SavepointAction, SelectSpec};
use crate::store::db::Db;
use crate::store::exec::Exec;
use crate::value::{self, Val};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

pub(super) fn rows_per_statement<D: Db>(x: &Exec<'_, D>, ncols: usize) -> usize {
    (x.dialect().max_params() / ncols.max(1)).clamp(1, 1_000)
}

/// The records of `data`: values in the params, or text of a request body, each parsed when it
/// is read (so that a large body never becomes one tree of values).
#[derive(Clone, Copy)]
enum Records<'a> {
    Values(&'a [Value]),
    Text(&'a RecordsText),
}

impl<'a> Records<'a> {
    fn len(&self) -> usize {
        match self {
            Records::Values(v) => v.len(),
            Records::Text(t) => t.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Record `i`. Text that is JSON but no value (a number out of range, nesting deeper than
    /// 128) is a validation error naming the record.
    fn get(&self, i: usize) -> Result<Cow<'a, Value>> {
        match self {
            Records::Values(v) => Ok(Cow::Borrowed(&v[i])),
            Records::Text(t) => t.get(i).map(Cow::Owned).map_err(|e| {
                Error::validation(format!("data[{i}]"), format!("malformed JSON: {e}"))
            }),
        }
    }
}

fn items<'a>(p: &Params<'a>) -> Result<Records<'a>> {
    let data =
        match p.records() {
            Some(text) => Records::Text(text),
            None => Records::Values(p.array("data")?.ok_or_else(|| {
                Error::validation("data", "`data` is required: a list of records")
            })?),
        };
    if data.len() > MAX_RECORDS {
        return Err(Error::validation(
            "data",
            format!("at most {MAX_RECORDS} records per call, got {}", data.len()),
        ));
    }
    Ok(data)
}

fn item_object(v: &Value, i: usize) -> Result<&Map<String, Value>> {
    v.as_object().ok_or_else(|| {
        Error::validation(
            format!("data[{i}]"),
            format!("expected an object, got {}", value::kind_of(v)),
        )
    })
}

fn with_dry_run(mut out: Value, p: &Params<'_>) -> Result<Value> {
    if p.bool("dry_run")?.unwrap_or(false) {
        out["dry_run"] = json!(true);
    }
    Ok(out)
}

async fn savepoint<D: Db>(x: &mut Exec<'_, D>, action: SavepointAction) -> Result<()> {
    x.execute(&sql::savepoint("fg_bulk", action))
        .await
        .map(|_| ())
}

/// Inserts rows (all of [`insert_columns`] shape, or with the id first when `with_id`) in
/// statements of as many rows as the database allows; returns the ids of the inserted rows.
async fn insert_rows<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    rows: &[Vec<Val>],
    with_id: bool,
    conflict: Option<Conflict<'_>>,
) -> Result<Vec<Value>> {
    let cols = if with_id {
        insert_columns_with_id(m)
    } else {
        insert_columns(m)
    };
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(rows_per_statement(x, cols.len())) {
        let stmt = sql::insert(m, &cols, chunk, conflict, &[m.id()], x.dialect());
        ids.extend(run_insert(x, m, stmt, chunk, with_id).await?);
    }
    if with_id
        && m.auto_id()
        && let Some(stmt) = sql::sync_sequence(m, x.dialect())
    {
        x.scalar(&stmt).await?;
    }
    Ok(ids)
}

/// Runs one insert statement of `rows` (built by [`sql::insert`] returning the id); returns
/// the ids of the inserted rows.
async fn run_insert<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    stmt: sql::Stmt,
    rows: &[Vec<Val>],
    with_id: bool,
) -> Result<Vec<Value>> {
    tenant::check_new(x, m, rows, with_id).await?;
    let ids = if x.dialect().has_returning() {
        x.fetch_column(stmt, m.id()).await?
    } else {
        let done = x.execute(&stmt).await?;
        if m.auto_id() && !with_id {
            // MySQL hands a multi-row insert consecutive ids from LAST_INSERT_ID() (the
            // `consecutive` auto-increment lock mode, MariaDB's default).
            let first = done.last_id.unwrap_or(0);
            (0..rows.len() as i64).map(|i| json!(first + i)).collect()
        } else {
            rows.iter().map(|r| r[0].to_json()).collect()
        }
    };
    if x.auditing() {
        audit_new_rows(x, m, rows, with_id, &ids);
    }
    Ok(ids)
}

/// The audit entries of inserted rows: each row's values as a new record, when every row went
/// in (a statement that skipped some cannot say which: its rows are only counted).
fn audit_new_rows<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    rows: &[Vec<Val>],
    with_id: bool,
    ids: &[Value],
) {
    if ids.len() != rows.len() {
        x.audit_more += ids.len() as u64;
        return;
    }
    let cols = if with_id {
        insert_columns_with_id(m)
    } else {
        insert_columns(m)
    };
    for (row, id) in rows.iter().zip(ids) {
        let record: Map<String, Value> = cols
            .iter()
            .zip(row)
            .map(|(c, v)| (c.name().to_string(), v.to_json()))
            .collect();
        x.audit_record(
            id.clone(),
            crate::store::audit::changes(m, None, Some(&record)),
        );
    }
}

/// The checked row of `data[i]`, for a new record.
fn checked_row(
    m: &ModelInfo,
    data: Records<'_>,
    i: usize,
    now: DateTime<Utc>,
    tenant: Option<&Val>,
) -> Result<Vec<Val>> {
    let item = data.get(i)?;
    item_object(&item, i).and_then(|obj| {
        new_row(m, obj, now, false, tenant).map_err(|e| e.within(&format!("data[{i}]")))
    })
}

/// An atomic bulk create (one statement per `rows_per_statement` rows), pipelined: while the
/// database runs one statement, the next chunk of records is checked and its statement built
/// (SQLite runs statements on its own thread, PostgreSQL and MySQL in their server). The first
/// invalid record fails the call as it does unpipelined. Statements may have run by then; an
/// operation always runs in a transaction of its own or under a savepoint of the caller's
/// transaction (`Transaction::run`), which a failed operation is rolled back to, so a refused
/// call changes nothing. Returns the ids and the number of rows skipped.
async fn create_pipelined<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    data: Records<'_>,
    conflict: Option<Conflict<'_>>,
    now: DateTime<Utc>,
) -> Result<(Vec<Value>, usize)> {
    if data.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let cols = insert_columns(m);
    let per = rows_per_statement(x, cols.len());
    let d = x.dialect();
    let tenant = x.tenant.clone();
    let prepare = |start: usize| -> Result<(Vec<Vec<Val>>, sql::Stmt)> {
        let end = (start + per).min(data.len());
        let rows = (start..end)
            .map(|i| checked_row(m, data, i, now, tenant.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let stmt = sql::insert(m, &cols, &rows, conflict, &[m.id()], d);
        Ok((rows, stmt))
    };
    let mut next = prepare(0)?;
    let mut ids: Vec<Value> = Vec::with_capacity(data.len());
    let mut skipped = 0;
    let mut start = 0;
    loop {
        let (rows, stmt) = next;
        start += rows.len();
        // `join` polls the insert first: its first poll hands the statement to the database,
        // then the next chunk is prepared while it runs.
        let (got, after) = futures_util::join!(run_insert(x, m, stmt, &rows, false), async {
            (start < data.len()).then(|| prepare(start)).transpose()
        });
        let got = got?;
        skipped += rows.len() - got.len();
        ids.extend(got);
        match after? {
            Some(n) => next = n,
            None => return Ok((ids, skipped)),
        }
    }
}

pub(crate) async fn bulk_create<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["data", "on_conflict", "atomic", "conflict_on", "dry_run"])?;
    let data = items(&p)?;
    let atomic = p.bool("atomic")?.unwrap_or(true);
    let mode = p
        .get("on_conflict")
        .map(|v| v.as_str().unwrap_or(""))
        .unwrap_or("error");
    if !["error", "skip", "update"].contains(&mode) {
        return Err(Error::validation(
            "on_conflict",
            "expected `error`, `skip` or `update`",
        ));
    }
    if mode == "update" {
        let default = m
            .unique_sets
            .iter()
            .find(|s| s[0] != "id")
            .cloned()
            .unwrap_or_else(|| vec!["id".into()]);
        let target = conflict_target(m, p.names("conflict_on")?, default)?;
        let (inserted, updated, ids) = upsert_rows(x, m, data, &target, true).await?;
        let out = json!({"inserted": inserted, "updated": updated, "skipped": 0, "ids": ids, "errors": []});
        return with_dry_run(out, &p);
    }
    if p.get("conflict_on").is_some() {
        return Err(Error::validation(
            "conflict_on",
            "conflict_on goes with on_conflict: update",
        ));
    }

    let now = value::now();
    let skip = mode == "skip";
    // MySQL cannot tell which rows of a multi-row insert it skipped: it skips row by row.
    let row_by_row = skip && x.dialect() == Dialect::MySql;
    if atomic && !row_by_row {
        let conflict = skip.then_some(Conflict::Nothing);
        let (ids, skipped) = create_pipelined(x, m, data, conflict, now).await?;
        let out = json!({"inserted": ids.len(), "skipped": skipped, "ids": ids, "errors": []});
        return with_dry_run(out, &p);
    }
    // Records are checked and inserted a chunk at a time: the checked rows of one statement
    // and, beside them, each one's index in `data`.
    let per = rows_per_statement(x, insert_columns(m).len());
    let n = if row_by_row { 1 } else { per };
    // Row by row, a plain insert whose conflict error marks the row skipped.
    let conflict = (skip && !row_by_row).then_some(Conflict::Nothing);
    let mut out = Outcome::default();
    let mut rows: Vec<Vec<Val>> = Vec::with_capacity(n.min(data.len()));
    let mut index: Vec<usize> = Vec::with_capacity(n.min(data.len()));
    for i in 0..data.len() {
        match checked_row(m, data, i, now, x.tenant.as_ref()) {
            Ok(row) => {
                rows.push(row);
                index.push(i);
            }
            Err(e) if atomic => return Err(e),
            Err(e) => out.errors.push((i, e)),
        }
        if rows.len() == n || (i + 1 == data.len() && !rows.is_empty()) {
            let chunk = Chunk {
                conflict,
                skip,
                atomic,
            };
            insert_chunk(x, m, &rows, &index, chunk, &mut out).await?;
            rows.clear();
            index.clear();
        }
    }
    let result = json!({
        "inserted": out.ids.len(),
        "skipped": out.skipped,
        "ids": out.ids,
        "errors": item_errors(m, out.errors),
    });
    with_dry_run(result, &p)
}

/// What a non-atomic (or row-by-row) bulk create has done so far.
#[derive(Default)]
struct Outcome {
    ids: Vec<Value>,
    skipped: usize,
    errors: Vec<(usize, Error)>,
}

/// How the rows of one chunk go in.
#[derive(Clone, Copy)]
struct Chunk<'a> {
    conflict: Option<Conflict<'a>>,
    skip: bool,
    atomic: bool,
}

/// Inserts one chunk of checked rows (`at`: their indexes in `data`) under a savepoint; a chunk
/// that fails is retried row by row to find which rows, and a row that fails alone is skipped
/// (a unique violation when skipping), reported (not atomic) or fails the call.
async fn insert_chunk<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    values: &[Vec<Val>],
    at: &[usize],
    how: Chunk<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let Chunk {
        conflict,
        skip,
        atomic,
    } = how;
    savepoint(x, SavepointAction::Create).await?;
    match insert_rows(x, m, values, false, conflict).await {
        Ok(got) => {
            savepoint(x, SavepointAction::Release).await?;
            out.skipped += values.len() - got.len();
            out.ids.extend(got);
        }
        Err(e) => {
            savepoint(x, SavepointAction::RollbackTo).await?;
            savepoint(x, SavepointAction::Release).await?;
            if values.len() == 1 {
                match e {
                    // A unique violation names its key; a broken reference names none and
                    // is an error, as on the databases that skip with ON CONFLICT.
                    Error::Conflict { field: Some(_), .. } if skip => out.skipped += 1,
                    e if !atomic => out.errors.push((at[0], e)),
                    e => return Err(e),
                }
                return Ok(());
            }
            // The chunk failed somewhere: retry it row by row to find which rows.
            for (i, row) in at.iter().zip(values) {
                savepoint(x, SavepointAction::Create).await?;
                match insert_rows(x, m, std::slice::from_ref(row), false, conflict).await {
                    Ok(got) => {
                        savepoint(x, SavepointAction::Release).await?;
                        out.skipped += 1 - got.len();
                        out.ids.extend(got);
                    }
                    Err(e) => {
                        savepoint(x, SavepointAction::RollbackTo).await?;
                        savepoint(x, SavepointAction::Release).await?;
                        out.errors.push((*i, e));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The per-item errors of a non-atomic bulk create as `[{index, error}]`, in data order, with
/// unique keys named as the model names them (the database's own names differ).
fn item_errors(m: &ModelInfo, mut errors: Vec<(usize, Error)>) -> Vec<Value> {
    errors.sort_by_key(|(i, _)| *i);
    errors
        .into_iter()
        .map(|(i, e)| json!({"index": i, "error": name_conflict(m, e).to_json()}))
        .collect()
}

/// Parses the filter of a bulk update or delete, refusing an empty one without `confirm_all`.
fn bulk_filter(m: &ModelInfo, p: &Params<'_>, verb: &str, tenant: Option<&Val>) -> Result<Filter> {
    let filter = parse_filter(m, &p.filter_json("filter")?)?;
    if filter.is_empty() && !p.bool("confirm_all")?.unwrap_or(false) {
        return Err(Error::validation(
            "filter",
            format!("an empty filter would {verb} every record; pass confirm_all: true to mean it"),
        ));
    }
    Ok(filter.scoped(tenant))
}

/// The records a bulk update or delete by `filter` is about to change, when it is audited: at
/// most `max_rows_per_op` of them, read and locked inside the write's transaction.
async fn audit_before<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    filter: &Filter,
) -> Result<Option<Vec<Map<String, Value>>>> {
    let Some(max) = x.audit_max else {
        return Ok(None);
    };
    let cols: Vec<&Column> = m.columns.iter().collect();
    let spec = SelectSpec {
        columns: &cols,
        filter,
        include_deleted: false,
        order: &[],
        after: None,
        limit: Some(max as u64),
        offset: None,
        for_update: true,
    };
    x.fetch(&sql::select(m, spec, x.dialect()), &cols)
        .await
        .map(Some)
}

fn check_max(p: &Params<'_>, n: u64, verb: &str) -> Result<()> {
    match p.u64("max_affected")? {
        Some(max) if n > max => Err(Error::validation(
            "max_affected",
            format!("would {verb} {n} records, more than max_affected {max}; nothing was changed"),
        )),
        _ => Ok(()),
    }
}

pub(crate) async fn bulk_update<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["filter", "fields", "confirm_all", "max_affected", "dry_run"])?;
    let filter = bulk_filter(m, &p, "update", x.tenant.as_ref())?;
    let fields = p
        .object("fields")?
        .ok_or_else(|| Error::validation("fields", "`fields` is required"))?;
    let sets = update_sets(m, fields, value::now()).map_err(|e| e.within("fields"))?;
    tenant::check_sets(x, m, &sets).await?;
    let was = audit_before(x, m, &filter).await?;
    let done = x
        .execute(&sql::update_where(
            m,
            &sets,
            &filter,
            false,
            &[],
            x.dialect(),
        ))
        .await?;
    check_max(&p, done.rows, "update")?;
    if let Some(was) = was {
        let n = was.len().min(done.rows as usize);
        for before in &was[..n] {
            let mut after = before.clone();
            for (col, v) in &sets {
                after.insert(col.name().to_string(), v.to_json());
            }
            x.audit_record(
                before["id"].clone(),
                crate::store::audit::changes(m, Some(before), Some(&after)),
            );
        }
        x.audit_more += done.rows.saturating_sub(n as u64);
    }
    with_dry_run(json!({"updated": done.rows}), &p)
}

pub(crate) async fn bulk_delete<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["filter", "confirm_all", "max_affected", "dry_run"])?;
    let filter = bulk_filter(m, &p, "delete", x.tenant.as_ref())?;
    let d = x.dialect();
    let was = audit_before(x, m, &filter).await?;
    let done = x.execute(&delete_stmt(m, &filter, d)).await?;
    check_max(&p, done.rows, "delete")?;
    if let Some(was) = was {
        let n = was.len().min(done.rows as usize);
        for before in &was[..n] {
            x.audit_record(
                before["id"].clone(),
                crate::store::audit::changes(m, Some(before), None),
            );
        }
        x.audit_more += done.rows.saturating_sub(n as u64);
    }
    with_dry_run(json!({"deleted": done.rows}), &p)
}

pub(crate) async fn bulk_upsert<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    p: Params<'_>,
) -> Result<Value> {
    p.only(&["data", "conflict_on", "on_conflict", "dry_run"])?;
    let data = items(&p)?;
    let target = conflict_target(m, p.names("conflict_on")?, vec!["id".into()])?;
    let update = match p.get("on_conflict").map(|v| v.as_str().unwrap_or("")) {
        None | Some("update") => true,
        Some("skip") => false,
        Some(_) => {
            return Err(Error::validation(
                "on_conflict",
                "expected `update` or `skip`",
            ));
        }
    };
    let (inserted, updated, _) = upsert_rows(x, m, data, &target, update).await?;
    let skipped = if update { 0 } else { data.len() - inserted };
    with_dry_run(
        json!({"inserted": inserted, "updated": updated, "skipped": skipped}),
        &p,
    )
}

/// `(k1 = ? AND k2 = ?) OR ...` over the `target` keys of `rows`.
fn keys_filter(
    m: &ModelInfo,
    target: &[String],
    target_idx: &[usize],
    rows: &[Vec<Val>],
) -> Result<Filter> {
    let alternatives = rows
        .iter()
        .map(|row| {
            let obj: Map<String, Value> = target
                .iter()
                .zip(target_idx)
                .map(|(k, &i)| (k.clone(), row[i].to_json()))
                .collect();
            equality_filter(m, &obj, "data")
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Filter::Or(alternatives))
}

/// The key of a row on `target`, as comparable text.
fn key_of(target_idx: &[usize], row: &[Val]) -> String {
    let parts: Vec<Value> = target_idx.iter().map(|&i| row[i].to_json()).collect();
    Value::Array(parts).to_string()
}

/// Writes full records keyed on the unique set `target`: inserts the new ones and, when
/// `update`, overwrites the fields each existing one supplies. Returns (inserted, updated, ids).
/// Audited, each record written is one entry: a new one's values, an existing one's changes
/// (its inserts do not record their rows as new: some of them update).
async fn upsert_rows<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    data: Records<'_>,
    target: &[String],
    update: bool,
) -> Result<(usize, usize, Vec<Value>)> {
    let audit = x.audit_max.take();
    let out = write_upserts(x, m, data, target, update, audit.is_some()).await;
    x.audit_max = audit;
    let (inserted, updated, ids, entries) = out?;
    for (id, changes) in entries {
        x.audit_record(id, changes);
    }
    Ok((inserted, updated, ids))
}

/// The changes of each record an upsert wrote: `(id, {field: [before, after]})`.
type Entries = Vec<(Value, Value)>;

/// [`upsert_rows`] on an `Exec` that does not audit; with `audited`, the entries to record.
async fn write_upserts<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    data: Records<'_>,
    target: &[String],
    update: bool,
    audited: bool,
) -> Result<(usize, usize, Vec<Value>, Entries)> {
    let now = value::now();
    let with_id = target.iter().any(|k| k == "id");
    let cols = if with_id {
        insert_columns_with_id(m)
    } else {
        insert_columns(m)
    };
    let target_idx: Vec<usize> = target
        .iter()
        .map(|k| {
            cols.iter()
                .position(|c| c.name() == k)
                .expect("target columns are insert columns")
        })
        .collect();

    // Every row is checked (and its key compared with the others) before anything is written.
    // Rows keep, beside them, which set of fields they supplied (`sets`, each set once).
    let mut rows: Vec<Vec<Val>> = Vec::with_capacity(data.len());
    let mut supplied: Vec<usize> = Vec::with_capacity(data.len());
    let mut sets: Vec<Vec<String>> = Vec::new();
    let mut set_of: HashMap<Vec<String>, usize> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for i in 0..data.len() {
        let at = format!("data[{i}]");
        let item = data.get(i)?;
        let obj = item_object(&item, i)?;
        for key in target {
            if obj.get(key).is_none_or(Value::is_null) {
                return Err(Error::validation(
                    format!("{at}.{key}"),
                    format!("`{key}` is required: it is a key of conflict_on"),
                ));
            }
        }
        let row = new_row(m, obj, now, with_id, x.tenant.as_ref()).map_err(|e| e.within(&at))?;
        if let Some(j) = seen.insert(key_of(&target_idx, &row), i) {
            return Err(Error::validation(
                at,
                format!("has the same conflict_on key as data[{j}]"),
            ));
        }
        let mut keys: Vec<String> = obj
            .keys()
            .filter(|k| !target.contains(k) && k.as_str() != "id")
            .cloned()
            .collect();
        keys.sort();
        let set = match set_of.get(&keys) {
            Some(&set) => set,
            None => {
                sets.push(keys.clone());
                set_of.insert(keys, sets.len() - 1);
                sets.len() - 1
            }
        };
        supplied.push(set);
        rows.push(row);
    }
    drop(seen);
    drop(set_of);

    // Which keys exist already (tombstones included): that splits inserted from updated.
    let key_cols: Vec<&Column> = target
        .iter()
        .map(|k| m.column(k).expect("target columns exist"))
        .collect();
    let mut existing: HashSet<String> = HashSet::new();
    // Audited: the existing records whole (read and locked here anyway), for the before-values.
    let all_cols: Vec<&Column> = m.columns.iter().collect();
    let read_cols = if audited { &all_cols } else { &key_cols };
    let mut before: HashMap<String, Map<String, Value>> = HashMap::new();
    let per_select = (x.dialect().max_params() / target.len().max(1) / 2).clamp(1, 1_000);
    for chunk in rows.chunks(per_select) {
        let filter = x.scoped(keys_filter(m, target, &target_idx, chunk)?);
        let spec = SelectSpec {
            columns: read_cols,
            filter: &filter,
            include_deleted: true,
            order: &[],
            after: None,
            limit: None,
            offset: None,
            for_update: true,
        };
        for rec in x
            .fetch(&sql::select(m, spec, x.dialect()), read_cols)
            .await?
        {
            let parts: Vec<Value> = target
                .iter()
                .map(|k| rec.get(k).cloned().unwrap_or(Value::Null))
                .collect();
            let key = Value::Array(parts).to_string();
            existing.insert(key.clone());
            if audited {
                before.insert(key, rec);
            }
        }
    }
    let is_new: Vec<bool> = rows
        .iter()
        .map(|r| !existing.contains(&key_of(&target_idx, r)))
        .collect();
    drop(existing);
    let inserted = is_new.iter().filter(|n| **n).count();
    let updated = if update { rows.len() - inserted } else { 0 };

    let fresh: Vec<usize> = (0..rows.len()).filter(|&i| is_new[i]).collect();
    if !update {
        let ids = insert_rows_at(x, m, &rows, &fresh, with_id, None).await?;
        let mut entries = Entries::new();
        if audited {
            for (&i, id) in fresh.iter().zip(&ids) {
                let after = record_of(&cols, &rows[i]);
                entries.push((
                    id.clone(),
                    crate::store::audit::changes(m, None, Some(&after)),
                ));
            }
        }
        return Ok((inserted, 0, ids, entries));
    }
    // MySQL's ON DUPLICATE KEY UPDATE takes whichever unique key a row hits, so a new row that
    // clashes with another record on some other unique field would overwrite that record. There
    // new rows go in with a plain INSERT, which refuses the clash as the other databases do.
    // On a tenant-scoped model, too: a conflict on the id (unique across tenants) must never
    // reach another tenant's row, and the rows of this tenant that exist are known (and locked).
    let plain_new = x.dialect() == Dialect::MySql || m.is_tenant_scoped();
    // Unique sets are unique per tenant: the conflict target says so (the id is unique alone).
    let scoped_target: Vec<String> = match &m.tenant {
        Some(t) if target != ["id"] => std::iter::once(t.name().to_string())
            .chain(target.iter().cloned())
            .collect(),
        _ => target.to_vec(),
    };
    let mut ids: Vec<Value> = vec![Value::Null; rows.len()];
    if plain_new {
        let got = insert_rows_at(x, m, &rows, &fresh, with_id, None).await?;
        for (&i, id) in fresh.iter().zip(got) {
            ids[i] = id;
        }
    }
    // One upsert statement per set of supplied fields: each row overwrites only what it gave.
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); sets.len()];
    for (i, &set) in supplied.iter().enumerate() {
        if !(plain_new && is_new[i]) {
            groups[set].push(i);
        }
    }
    for (keys, indexes) in sets.iter().zip(groups) {
        if indexes.is_empty() {
            continue;
        }
        let mut set_cols: Vec<String> = keys.clone();
        if m.updated_at().is_some() {
            set_cols.push("updated_at".into());
        }
        if m.soft_delete() {
            set_cols.push("deleted_at".into());
        }
        let conflict = Conflict::Update {
            target: &scoped_target,
            columns: &set_cols,
        };
        let got = insert_rows_at(x, m, &rows, &indexes, with_id, Some(conflict)).await?;
        for (i, id) in indexes.into_iter().zip(got) {
            ids[i] = id;
        }
    }
    // The ids in data order: the keys themselves when keyed on the id, what RETURNING gave, or
    // (MySQL) read back by key.
    if with_id {
        ids = rows.iter().map(|r| r[0].to_json()).collect();
    } else if !x.dialect().has_returning() {
        ids = ids_by_key(x, m, target, &target_idx, &rows).await?;
    }
    let mut entries = Entries::new();
    if audited {
        // Each record: a new one's values, or what the fields it supplied changed.
        for (i, row) in rows.iter().enumerate() {
            let after: Map<String, Value> = cols
                .iter()
                .zip(row)
                .filter(|(c, _)| is_new[i] || sets[supplied[i]].iter().any(|k| k == c.name()))
                .map(|(c, v)| (c.name().to_string(), v.to_json()))
                .collect();
            let changes = match before.get(&key_of(&target_idx, row)) {
                Some(was) if !is_new[i] => {
                    let mut now = was.clone();
                    now.extend(after);
                    crate::store::audit::changes(m, Some(was), Some(&now))
                }
                _ => crate::store::audit::changes(m, None, Some(&after)),
            };
            entries.push((ids[i].clone(), changes));
        }
    }
    Ok((inserted, updated, ids, entries))
}

/// A row's values by column name.
fn record_of(cols: &[&Column], row: &[Val]) -> Map<String, Value> {
    cols.iter()
        .zip(row)
        .map(|(c, v)| (c.name().to_string(), v.to_json()))
        .collect()
}

/// [`insert_rows`] of the rows at `which`, copied a statement's worth at a time.
async fn insert_rows_at<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    rows: &[Vec<Val>],
    which: &[usize],
    with_id: bool,
    conflict: Option<Conflict<'_>>,
) -> Result<Vec<Value>> {
    let ncols = if with_id {
        insert_columns_with_id(m).len()
    } else {
        insert_columns(m).len()
    };
    let mut ids = Vec::with_capacity(which.len());
    for part in which.chunks(rows_per_statement(x, ncols)) {
        let chunk: Vec<Vec<Val>> = part.iter().map(|&i| rows[i].clone()).collect();
        ids.extend(insert_rows(x, m, &chunk, with_id, conflict).await?);
    }
    Ok(ids)
}

/// Reads back the ids of rows by their keys, in the rows' order.
async fn ids_by_key<D: Db>(
    x: &mut Exec<'_, D>,
    m: &ModelInfo,
    target: &[String],
    target_idx: &[usize],
    rows: &[Vec<Val>],
) -> Result<Vec<Value>> {
    let mut cols: Vec<&Column> = vec![m.id()];
    cols.extend(
        target
            .iter()
            .map(|k| m.column(k).expect("target columns exist")),
    );
    let mut by_key: HashMap<String, Value> = HashMap::new();
    for chunk in rows.chunks(500) {
        let filter = x.scoped(keys_filter(m, target, target_idx, chunk)?);
        let spec = SelectSpec {
            columns: &cols,
            filter: &filter,
            include_deleted: true,
            order: &[],
            after: None,
            limit: None,
            offset: None,
            for_update: false,
        };
        for mut rec in x.fetch(&sql::select(m, spec, x.dialect()), &cols).await? {
            let parts: Vec<Value> = target
                .iter()
                .map(|k| rec.get(k).cloned().unwrap_or(Value::Null))
                .collect();
            by_key.insert(
                Value::Array(parts).to_string(),
                rec.remove("id").unwrap_or(Value::Null),
            );
        }
    }
    Ok(rows
        .iter()
        .map(|r| {
            by_key
                .get(&key_of(target_idx, r))
                .cloned()
                .unwrap_or(Value::Null)
        })
        .collect())
}
