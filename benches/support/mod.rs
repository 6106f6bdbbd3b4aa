//! What several benchmarks share: a PostgreSQL schema of their own for one run.

/// A fresh schema on the benchmark's PostgreSQL (`FLOWGATE_BENCH_POSTGRES_URL`, default
/// `postgres://postgres@127.0.0.1:5432/postgres`), and a URL whose connections use it.
pub(crate) struct PgSchema {
    pub(crate) admin: sqlx::PgPool,
    pub(crate) name: String,
    pub(crate) url: String,
}

/// A schema named `<prefix>_<pid>`, or None (said on stdout) when PostgreSQL cannot be reached.
pub(crate) async fn pg_schema(prefix: &str) -> Option<PgSchema> {
    let base = std::env::var("FLOWGATE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let Ok(admin) = sqlx::PgPool::connect(&base).await else {
        println!("postgres: not reachable at {base}; skipped");
        return None;
    };
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{name}\"")))
        .execute(&admin)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
    Some(PgSchema { admin, name, url })
}

impl PgSchema {
    /// Drops the schema and what it holds.
    pub(crate) async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{}\" CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("drop schema");
        self.admin.close().await;
    }
}
