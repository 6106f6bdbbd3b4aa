//! The example server: the seed application's models (User, Conversation, Message, OrderItem)
//! on an embedded SQLite file, served over HTTP.
//!
//! ```sh
//! cargo run --release --example server
//! curl -s localhost:8000/health/ready
//! curl -s localhost:8000/api/users --json '{"email": "ada@example.com", "name": "Ada"}'
//! curl -s localhost:8000/workflows/signup/execute \
//!   --json '{"inputs": {"email": "grace@example.com", "name": "Grace", "title": "Hello"}}'
//! ```
//!
//! It also serves one workflow, `signup`: a user and their first conversation, in one
//! transaction.
//!
//! `DATABASE_URL`, `FLOWGATE_HTTP_PORT` and the other `FLOWGATE_*` variables apply.

use flowgate::{FieldDef, ModelDef, OnDelete, Workflow, WorkflowBuilder};
use flowgate_actors::Supervisor;
use std::time::{Duration, Instant};

fn models() -> Vec<ModelDef> {
    vec![
        ModelDef::new("User")
            .description("A person who uses the application")
            .field(
                FieldDef::string("email")
                    .max_length(254)
                    .unique()
                    .description("Login and contact address"),
            )
            .field(FieldDef::string("name").max_length(120))
            .field(FieldDef::enumeration("role", ["member", "admin"]).default("member"))
            .field(FieldDef::boolean("active").default(true)),
        ModelDef::new("Conversation")
            .soft_delete()
            .description("A thread of messages")
            .field(FieldDef::string("title").max_length(200))
            .field(
                FieldDef::integer("user_id")
                    .references("User")
                    .on_delete(OnDelete::Cascade),
            )
            .field(FieldDef::json("metadata").default(serde_json::json!({}))),
        ModelDef::new("Message")
            .description("One message of a conversation")
            .field(
                FieldDef::integer("conversation_id")
                    .references("Conversation")
                    .on_delete(OnDelete::Cascade)
                    .indexed(),
            )
            .field(FieldDef::enumeration(
                "role",
                ["user", "assistant", "system"],
            ))
            .field(FieldDef::text("content"))
            .field(FieldDef::integer("tokens").optional()),
        ModelDef::new("OrderItem")
            .description("A line of an order")
            .field(FieldDef::string("order_ref").max_length(40).indexed())
            .field(FieldDef::string("sku").max_length(40))
            .field(FieldDef::integer("quantity").default(1))
            .field(FieldDef::decimal("unit_price").precision(12).scale(2))
            .field(
                FieldDef::integer("user_id")
                    .references("User")
                    .optional()
                    .on_delete(OnDelete::SetNull),
            )
            .unique_together(["order_ref", "sku"]),
    ]
}

/// `signup`: creates a user, then a conversation of theirs; both or neither.
fn signup() -> anyhow::Result<Workflow> {
    Ok(WorkflowBuilder::new("signup")
        .description("A new user and their first conversation")
        .transactional(true)
        .add_node(
            "UserCreateNode",
            "user",
            serde_json::json!({"email": "${email}", "name": "${name}"}),
        )
        .add_node(
            "ConversationCreateNode",
            "conversation",
            serde_json::json!({"title": "${title}"}),
        )
        .connect("user", "id", "conversation", "user_id")
        .build()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = Instant::now();
    let handle = Supervisor::builder()
        .set(
            "database_url",
            std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://flowgate-example.db".into()),
        )
        .models(models())
        .workflow(signup()?)
        .start()
        .await?;
    eprintln!(
        "flowgate listening http={} mcp=none (bound in {:?})",
        handle.http_addr(),
        started.elapsed()
    );
    if handle.wait_ready(Duration::from_secs(30)).await {
        eprintln!(
            "ready in {:?}: try curl -s http://{}/health/ready",
            started.elapsed(),
            handle.http_addr()
        );
    } else {
        eprintln!("not ready yet: {}", handle.board().to_json());
    }
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
