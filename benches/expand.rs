//! `expand`'s cost (issue 14): a page of 20 books with their author (a belongs-to), and a page
//! of 20 authors with at most 5 books each (a has-many), through the data layer, against the
//! two hand-written sqlx queries each replaces (the page, then the related rows by `IN`; for the
//! has-many, the same window query Flowgate sends), in alternating rounds of one run. Prints
//! each median and the ratio hand-written / Flowgate time (1.0: as fast as hand-written).
//!
//! `cargo bench --bench expand` (SQLite; PostgreSQL too at `FLOWGATE_BENCH_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/postgres`, in a schema of its own, dropped after).
//! `FLOWGATE_BENCH_ROUNDS` (default 7) rounds of `FLOWGATE_BENCH_OPS` (default 500) pages.

mod support;
use flowgate::{Context, FieldDef, ModelDef, OpKind, Schema, Store, StoreConfig};
use serde_json::json;
use sqlx::Row;
use std::time::{Duration, Instant};

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("Author").field(FieldDef::string("name").max_length(80)),
        ModelDef::new("Book")
            .field(FieldDef::string("title").max_length(80))
            .field(FieldDef::integer("pages").default(100))
            .field(FieldDef::integer("author_id").references("Author")),
    ]
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// A pool of the database under test, for the hand-written queries.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// `?` or `$n` placeholders for `n` values.
fn marks(n: usize, postgres: bool) -> String {
    let marks: Vec<String> = (1..=n)
        .map(|i| {
            if postgres {
                format!("${i}")
            } else {
                "?".into()
            }
        })
        .collect();
    marks.join(", ")
}

/// Runs `$body` with `$pool` bound to the pool of either database (the same code for both).
macro_rules! on_pool {
    ($raw:expr, $pool:ident => $body:expr) => {
        match $raw {
            Raw::Sqlite($pool) => $body,
            Raw::Postgres($pool) => $body,
        }
    };
}

impl Raw {
    fn postgres(&self) -> bool {
        matches!(self, Raw::Postgres(_))
    }

    /// The page of books and their authors, by hand: two queries, the second by `IN`.
    async fn belongs_to(&self) -> usize {
        let pg = self.postgres();
        on_pool!(self, pool => {
            let books = sqlx::query(
                "SELECT id, title, pages, author_id, created_at, updated_at FROM books ORDER BY id LIMIT 20",
            )
            .fetch_all(pool)
            .await
            .expect("books");
            let mut ids: Vec<i64> = books.iter().map(|r| r.get::<i64, _>(3)).collect();
            ids.sort_unstable();
            ids.dedup();
            let sql = format!(
                "SELECT id, name, created_at, updated_at FROM authors WHERE id IN ({})",
                marks(ids.len(), pg)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &ids {
                q = q.bind(*id);
            }
            books.len() + q.fetch_all(pool).await.expect("authors").len()
        })
    }

    /// The page of authors and at most 5 books each, by hand: the page, then one window query.
    async fn has_many(&self) -> usize {
        let pg = self.postgres();
        on_pool!(self, pool => {
            let authors = sqlx::query(
                "SELECT id, name, created_at, updated_at FROM authors ORDER BY id LIMIT 20",
            )
            .fetch_all(pool)
            .await
            .expect("authors");
            let ids: Vec<i64> = authors.iter().map(|r| r.get::<i64, _>(0)).collect();
            let sql = format!(
                "SELECT id, title, pages, author_id, created_at, updated_at FROM (SELECT id, title, \
                 pages, author_id, created_at, updated_at, ROW_NUMBER() OVER (PARTITION BY \
                 author_id ORDER BY id) AS n FROM books WHERE author_id IN ({})) t WHERE n <= 5 \
                 ORDER BY author_id, id",
                marks(ids.len(), pg)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in &ids {
                q = q.bind(*id);
            }
            authors.len() + q.fetch_all(pool).await.expect("books").len()
        })
    }
}

async fn measure(label: &str, url: &str, rounds: usize, ops: usize) {
    let mut cfg = StoreConfig::new(url);
    cfg.pool_size = 4;
    let store = Store::connect(&cfg, Schema::new(models()).unwrap())
        .await
        .expect("store");
    store.create_tables().await.expect("tables");
    let ctx = Context::internal();
    let author = store.model("Author").unwrap();
    let book = store.model("Book").unwrap();
    let authors: Vec<_> = (0..40)
        .map(|i| json!({"name": format!("author {i}")}))
        .collect();
    store
        .run(&ctx, &author, OpKind::BulkCreate, &json!({"data": authors}))
        .await
        .expect("authors");
    let books: Vec<_> = (0..400)
        .map(|i| json!({"title": format!("book {i}"), "author_id": (i % 40) + 1}))
        .collect();
    store
        .run(&ctx, &book, OpKind::BulkCreate, &json!({"data": books}))
        .await
        .expect("books");
    let raw = if url.starts_with("postgres") {
        Raw::Postgres(sqlx::PgPool::connect(url).await.expect("pool"))
    } else {
        Raw::Sqlite(sqlx::SqlitePool::connect(url).await.expect("pool"))
    };
    let belongs = json!({"limit": 20, "order_by": "id", "expand": ["author"]});
    let has_many = json!({"limit": 20, "order_by": "id", "expand": ["books"], "expand_limit": 5});
    let (mut fb, mut hb, mut fh, mut hh) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..ops {
            store
                .run(&ctx, &book, OpKind::List, &belongs)
                .await
                .expect("expand");
        }
        fb.push(t.elapsed() / ops as u32);
        let t = Instant::now();
        for _ in 0..ops {
            raw.belongs_to().await;
        }
        hb.push(t.elapsed() / ops as u32);
        let t = Instant::now();
        for _ in 0..ops {
            store
                .run(&ctx, &author, OpKind::List, &has_many)
                .await
                .expect("expand");
        }
        fh.push(t.elapsed() / ops as u32);
        let t = Instant::now();
        for _ in 0..ops {
            raw.has_many().await;
        }
        hh.push(t.elapsed() / ops as u32);
    }
    for (what, f, h) in [("belongs-to", fb, hb), ("has-many", fh, hh)] {
        let (f, h) = (median(f), median(h));
        println!(
            "{label:<9} {what:<10} flowgate {:>7.1} µs   by hand {:>7.1} µs   ratio {:.2}",
            f.as_secs_f64() * 1e6,
            h.as_secs_f64() * 1e6,
            h.as_secs_f64() / f.as_secs_f64()
        );
    }
    on_pool!(&raw, pool => pool.close().await);
    store.close().await;
}

fn main() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (rounds, ops) = (
        env("FLOWGATE_BENCH_ROUNDS", 7),
        env("FLOWGATE_BENCH_OPS", 500),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let path = std::env::temp_dir().join(format!("fg_expand_bench_{}.db", std::process::id()));
        measure(
            "sqlite",
            &format!("sqlite://{}?mode=rwc", path.display()),
            rounds,
            ops,
        )
        .await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let Some(pg) = support::pg_schema("fg_expand_bench").await else {
            return;
        };
        measure("postgres", &pg.url, rounds, ops).await;
        pg.drop().await;
    });
}
