//! Schema discovery's cost (issue 14): `flowgate::introspect::introspect` of a hand-made schema
//! of 10, 100 and 1,000 tables on SQLite and PostgreSQL (goal: 1,000 tables under 1 s on
//! PostgreSQL). Each table has an id, six columns of assorted types, a foreign key to the table
//! before it, a unique column and a composite index, as a real schema would.
//!
//! `cargo bench --bench introspect` (PostgreSQL at `FLOWGATE_BENCH_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, in a schema of its own, dropped after).
//! Prints the median of `FLOWGATE_BENCH_ROUNDS` (default 5) runs per size.

use flowgate::introspect::{self, Options};
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [10, 100, 1_000];

/// The DDL of `n` tables (`t0001` ...), each referring to the one before.
fn schema_sql(n: usize, postgres: bool) -> String {
    let id = if postgres {
        "id bigserial PRIMARY KEY"
    } else {
        "id INTEGER PRIMARY KEY AUTOINCREMENT"
    };
    let mut sql = String::new();
    for i in 1..=n {
        let parent = if i > 1 {
            format!(
                ", parent_id BIGINT REFERENCES t{:04}(id) ON DELETE CASCADE",
                i - 1
            )
        } else {
            String::new()
        };
        sql.push_str(&format!(
            "CREATE TABLE t{i:04} ({id}, code VARCHAR(40) NOT NULL UNIQUE, name TEXT, \
             amount NUMERIC(12,2) DEFAULT 0, active BOOLEAN NOT NULL DEFAULT TRUE, \
             born DATE, seen TIMESTAMP{parent});\n\
             CREATE INDEX ix_t{i:04} ON t{i:04} (name, born);\n"
        ));
    }
    sql
}

/// Drops the tables a hundred at a time (newest first: each refers to the one before), then the
/// schema: one `DROP SCHEMA ... CASCADE` of a thousand tables takes more locks than
/// `max_locks_per_transaction` allows.
async fn drop_schema(admin: &sqlx::PgPool, schema: &str, n: usize) {
    let mut i = n;
    while i > 0 {
        let from = i.saturating_sub(100);
        let tables: Vec<String> = (from + 1..=i)
            .rev()
            .map(|t| format!("\"{schema}\".t{t:04}"))
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE {}",
            tables.join(", ")
        )))
        .execute(admin)
        .await
        .expect("drop tables");
        i = from;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(admin)
    .await
    .expect("drop schema");
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

async fn measure(label: &str, url: &str, n: usize, schema: Option<String>, rounds: usize) {
    let opts = Options {
        schema,
        ..Options::default()
    };
    let mut runs = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let found = introspect::introspect(url, &opts)
            .await
            .expect("introspect");
        runs.push(start.elapsed());
        assert_eq!(found.models.len(), n, "{:?}", found.skipped);
    }
    println!(
        "{label:<10} {n:>5} tables: median {:>8.1} ms over {rounds} runs",
        median(runs).as_secs_f64() * 1e3
    );
}

fn main() {
    let rounds: usize = std::env::var("FLOWGATE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("fg_introspect_bench_{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for n in SIZES {
            let path = dir.join(format!("s{n}.db"));
            let url = format!("sqlite://{}", path.display());
            let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
                .await
                .expect("sqlite");
            sqlx::raw_sql(sqlx::AssertSqlSafe(schema_sql(n, false)))
                .execute(&pool)
                .await
                .expect("schema");
            pool.close().await;
            measure("sqlite", &url, n, None, rounds).await;
        }
        let _ = std::fs::remove_dir_all(&dir);

        let base = std::env::var("FLOWGATE_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
        let Ok(admin) = sqlx::PgPool::connect(&base).await else {
            println!("postgres: not reachable at {base}; skipped");
            return;
        };
        for n in SIZES {
            let schema = format!("fg_introspect_bench_{}_{n}", std::process::id());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {}",
                schema_sql(n, true)
            )))
            .execute(&admin)
            .await
            .expect("schema");
            measure("postgres", &base, n, Some(schema.clone()), rounds).await;
            drop_schema(&admin, &schema, n).await;
        }
    });
}
