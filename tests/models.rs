//! The `model!` macro, used from outside the crate as applications use it.
#![allow(missing_docs)] // the test models' public fields need no documentation

use flowgate::{FieldDef, FieldType, IdType, Model, ModelDef, OnDelete, Schema};
use serde_json::json;

flowgate::model! {
    /// A project that tasks belong to.
    pub struct Project {
        pub name: String [max_length = 120, unique],
    }
}

flowgate::model! {
    /// doc comments and other attributes pass through to the struct
    #[derive(PartialEq)]
    pub struct Task [table = "tasks", soft_delete, description = "A unit of work", index = ["state", "due"]] {
        pub title: String [max_length = 200, unique],
        pub notes: Option<String> [ty = flowgate::FieldType::Text],
        pub estimate: Option<i64>,
        pub due: Option<chrono::NaiveDate>,
        pub state: String [values = ["open", "done"], default = "open"],
        pub project_id: Option<i64> [references = "Project"],
        #[serde(default)]
        pub labels: serde_json::Value,
    }
}

flowgate::model! {
    /// A model with a UUID id and the managed fields, as typed reads see them.
    #[derive(PartialEq)]
    pub struct Document {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub id: Option<uuid::Uuid>,
        /// The body, base64 in JSON.
        pub body: flowgate::model::Bytes [description = "Raw content"],
        pub size: i32 [indexed, default = 0],
        pub ratio: f64,
        pub price: rust_decimal::Decimal [precision = 10, scale = 2],
        pub public: bool,
        pub owner_id: Option<String> [references = "Owner", on_delete = OnDelete::SetNull],
        #[serde(skip_serializing_if = "Option::is_none")]
        pub created_at: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    }
}

flowgate::model! {
    pub(crate) struct Owner [unique_together = ["first", "last"],] {
        pub id: String,
        first: String,
        last: String,
        seen_at: chrono::DateTime<chrono::Utc>,
    }
}

flowgate::model! {
    struct Bare {}
}

flowgate::model! {
    /// An id that cannot be a primary key, and a managed name of the wrong type.
    struct BadId {
        id: bool,
        created_at: String,
    }
}

flowgate::model! {
    /// An id with options is not taken as the primary key either.
    struct IdWithOptions {
        id: i64 [unique],
    }
}

#[test]
fn the_macro_gives_the_builder_def() {
    let expected = ModelDef::new("Task")
        .table("tasks")
        .soft_delete()
        .description("A unit of work")
        .index(["state", "due"])
        .field(FieldDef::string("title").max_length(200).unique())
        .field(FieldDef::text("notes").optional())
        .field(FieldDef::integer("estimate").optional())
        .field(FieldDef::date("due").optional())
        .field(FieldDef::enumeration("state", ["open", "done"]).default("open"))
        .field(
            FieldDef::integer("project_id")
                .optional()
                .references("Project"),
        )
        .field(FieldDef::json("labels"));
    assert_eq!(Task::model_def(), expected);
    assert_eq!(
        Project::model_def(),
        ModelDef::new("Project").field(FieldDef::string("name").max_length(120).unique())
    );
}

#[test]
fn the_schema_accepts_the_macro_models() {
    let schema = Schema::new([
        Task::model_def(),
        Project::model_def(),
        Document::model_def(),
        Owner::model_def(),
        Bare::model_def(),
    ])
    .unwrap();
    let task = schema.get("Task").unwrap();
    assert_eq!(task.table, "tasks");
    assert!(task.column("deleted_at").is_some());
    let names: Vec<&str> = schema.models().map(|m| m.name()).collect();
    assert!(names.iter().position(|n| *n == "Project") < names.iter().position(|n| *n == "Task"));
}

#[test]
fn instances_round_trip_through_json() {
    let task = Task {
        title: "Write the macro".into(),
        notes: None,
        estimate: Some(3),
        due: chrono::NaiveDate::from_ymd_opt(2026, 2, 28),
        state: "open".into(),
        project_id: Some(7),
        labels: json!(["a", "b"]),
    };
    let value = serde_json::to_value(&task).unwrap();
    assert_eq!(
        value,
        json!({
            "title": "Write the macro",
            "notes": null,
            "estimate": 3,
            "due": "2026-02-28",
            "state": "open",
            "project_id": 7,
            "labels": ["a", "b"]
        })
    );
    let back: Task = serde_json::from_value(value).unwrap();
    assert_eq!(back, task);
    // `Option` fields may be left out, and `#[serde(default)]` passed through to `labels`.
    let sparse: Task = serde_json::from_value(json!({"title": "t", "state": "done"})).unwrap();
    assert_eq!(sparse.labels, serde_json::Value::Null);
    assert_eq!(sparse.estimate, None);
    // Clone and Debug are derived.
    assert!(format!("{:?}", task.clone()).contains("Write the macro"));
}

#[test]
fn id_and_managed_fields_are_not_declared_fields() {
    let def = Document::model_def();
    assert_eq!(def.id, IdType::Uuid);
    let names: Vec<&str> = def.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["body", "size", "ratio", "price", "public", "owner_id"]
    );
    assert_eq!(
        def.fields,
        [
            FieldDef::bytes("body").description("Raw content"),
            FieldDef::integer("size").indexed().default(0),
            FieldDef::float("ratio"),
            FieldDef::decimal("price").precision(10).scale(2),
            FieldDef::boolean("public"),
            FieldDef::string("owner_id")
                .optional()
                .references("Owner")
                .on_delete(OnDelete::SetNull),
        ]
    );

    let owner = Owner::model_def();
    assert_eq!(owner.id, IdType::String);
    assert_eq!(owner.unique, [["first", "last"]]);
    assert_eq!(owner.fields[2], FieldDef::datetime("seen_at"));
    assert_eq!(Task::model_def().id, IdType::Integer);
    assert_eq!(Bare::model_def(), ModelDef::new("Bare"));

    // Typed reads see the id and managed fields; typed creates leave them out.
    let created = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let record = json!({
        "id": "0191f5e2-7c3a-7b4e-9a5d-3f1e2d4c5b6a",
        "body": "AAEC",
        "size": 3,
        "ratio": 0.5,
        "price": "12.50",
        "public": true,
        "owner_id": null,
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z"
    });
    let doc: Document = serde_json::from_value(record).unwrap();
    assert_eq!(doc.body, flowgate::model::Bytes(vec![0, 1, 2]));
    assert_eq!(doc.created_at, Some(created));
    let new = Document {
        id: None,
        created_at: None,
        updated_at: None,
        ..doc
    };
    let body = serde_json::to_value(&new).unwrap();
    assert!(body.get("id").is_none() && body.get("created_at").is_none());
    assert_eq!(body["body"], "AAEC");
}

#[test]
fn unusable_ids_are_left_for_validation() {
    let def = BadId::model_def();
    assert_eq!(def.id, IdType::Integer);
    assert_eq!(
        def.fields,
        [
            FieldDef::boolean("id"),
            FieldDef::new("created_at", FieldType::String)
        ]
    );
    let err = Schema::new([def]).unwrap_err();
    assert_eq!(err.field(), Some("BadId.id"));
    assert!(err.to_string().contains("reserved"), "{err}");

    let def = IdWithOptions::model_def();
    assert_eq!(def.fields, [FieldDef::integer("id").unique()]);
    assert!(Schema::new([def]).is_err());
}

/// `managed = false`, `timestamps = false` and `default_fn` in a schema file, and what
/// validation says of them.
#[test]
fn existing_table_options_parse_and_validate() {
    let text = r#"
[models.Visit]
managed = false
timestamps = false
fields.created_at = { type = "datetime", default_fn = "now" }
fields.day        = { type = "date", default_fn = "today" }
fields.token      = { type = "uuid", optional = true, default_fn = "uuid" }
"#;
    let defs = flowgate::model::parse_toml(text, "visits.toml").unwrap();
    let visit = &defs[0];
    assert!(!visit.managed && !visit.timestamps);
    assert_eq!(
        visit.fields[0].default_fn,
        Some(flowgate::model::DefaultFn::Now)
    );
    assert!(!visit.fields[0].required_on_create());
    let schema = Schema::new(defs.clone()).unwrap();
    let info = schema.get("Visit").unwrap();
    assert!(info.updated_at().is_none(), "no managed timestamps");
    assert_eq!(
        info.column("created_at").unwrap().role,
        flowgate::model::Role::Field
    );
    // The canonical JSON form carries them and reads back the same.
    let json = flowgate::model::to_json(&defs).to_string();
    assert_eq!(flowgate::model::parse_json(&json, "v.json").unwrap(), defs);

    let bad = |field: FieldDef| {
        Schema::new([ModelDef::new("Visit").field(field)])
            .unwrap_err()
            .to_string()
    };
    use flowgate::model::DefaultFn;
    assert!(
        bad(FieldDef::date("day").default_fn(DefaultFn::Now))
            .contains("gives a datetime value, not date")
    );
    assert!(
        bad(FieldDef::datetime("at")
            .default_fn(DefaultFn::Now)
            .default("2026-01-01T00:00:00Z"))
        .contains("not both")
    );
    // With the managed timestamps, their names stay reserved.
    assert!(bad(FieldDef::datetime("created_at")).contains("reserved"));
    let err = flowgate::model::parse_toml(
        "[models.V]\nfields.a = { type = \"date\", default_fn = \"yesterday\" }",
        "v.toml",
    )
    .unwrap_err();
    assert!(err.to_string().contains("now, today or uuid"), "{err}");
}
