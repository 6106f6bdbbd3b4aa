//! The `model!` macro: a struct that is also a model declaration (DESIGN section 4).
//!
//! It is a plain `macro_rules!` macro (no proc-macro crate); see [`crate::model!`] for the syntax.

/// Declares a struct and the model it stands for.
///
/// ```
/// flowgate::model! {
///     /// A unit of work.
///     #[derive(PartialEq)]
///     pub struct Task [table = "tasks", soft_delete, index = ["state", "title"]] {
///         #[serde(skip_serializing_if = "Option::is_none")]
///         pub id: Option<i64>,
///         pub title: String [max_length = 200, unique],
///         pub notes: Option<String> [ty = flowgate::FieldType::Text],
///         pub state: String [values = ["open", "done"], default = "open"],
///         pub project_id: Option<i64> [references = "Project"],
///         #[serde(skip_serializing_if = "Option::is_none")]
///         pub created_at: Option<chrono::DateTime<chrono::Utc>>,
///     }
/// }
///
/// flowgate::model! {
///     pub struct Project {
///         pub name: String [max_length = 120],
///     }
/// }
///
/// use flowgate::Model;
/// let def = Task::model_def();
/// assert_eq!(def.name, "Task");
/// assert_eq!(def.table.as_deref(), Some("tasks"));
/// assert_eq!(def.fields.len(), 4); // id and created_at are not declared fields
/// flowgate::Schema::new([Project::model_def(), def]).unwrap();
/// ```
///
/// # Syntax
///
/// - The struct keeps its attributes (doc comments, `#[derive(PartialEq)]`, ...) and its fields
///   keep theirs (`#[serde(default)]`, ...). The macro adds
///   `#[derive(Debug, Clone, Serialize, Deserialize)]`, so do not derive those again. Serde
///   attributes that rename fields (`rename`, `rename_all`) would make records and the model
///   disagree: do not use them.
/// - Options in square brackets, after the struct name and after a field's type, are optional.
///   Each maps onto a builder method: a bare `key` calls `.key()` and `key = expr` calls
///   `.key(expr)`, on [`ModelDef`](crate::ModelDef) for the struct (`table`, `soft_delete`,
///   `index`, `unique_together`, `description`) and on [`FieldDef`](crate::FieldDef) for a field
///   (`ty`, `default`, `unique`, `indexed`, `references`, `on_delete`, `max_length`, `values`,
///   `precision`, `scale`, `description`).
/// - A field's type gives the field type and whether it is optional, through
///   [`FieldKind`](crate::model::FieldKind): `String` is `string`, `i64` is `integer`,
///   `Option<T>` is optional, and so on. `ty = ...` changes the type (`text` for a `String`);
///   `values = [...]` makes a field an `enum`.
///
/// # The id and managed fields
///
/// - A field named `id` declares the primary key instead of a field: `i64` gives an integer id,
///   `String` a string id, `uuid::Uuid` a UUID id, each also as `Option<...>`. Use the `Option`
///   form with `#[serde(skip_serializing_if = "Option::is_none")]` (the macro cannot add it) so
///   that a typed create can leave the id out and the database or Flowgate generates it.
/// - Fields named `created_at`, `updated_at` and `deleted_at` of type
///   `Option<chrono::DateTime<chrono::Utc>>` (or without the `Option`) are left out of the
///   model: Flowgate manages them and returns them in records, so typed reads can see them.
///   Give them `#[serde(skip_serializing_if = "Option::is_none")]` as well.
/// - An `id` or managed field of another type, or with options, stays a declared field, which
///   [`Schema::new`](crate::Schema::new) refuses as reserved: the macro itself never panics.
///
/// # Requirements
///
/// The generated serde code refers to serde through `flowgate::__serde`, so the crate using the
/// macro must depend on Flowgate under the name `flowgate` (it need not depend on serde itself).
#[macro_export]
macro_rules! model {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $([ $($mkey:ident $(= $mval:expr)?),* $(,)? ])? {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $fty:ty $([ $($fkey:ident $(= $fval:expr)?),* $(,)? ])?
            ),* $(,)?
        }
    ) => {
        #[derive(
            ::core::fmt::Debug,
            ::core::clone::Clone,
            $crate::__serde::Serialize,
            $crate::__serde::Deserialize
        )]
        #[serde(crate = "flowgate::__serde")]
        $(#[$meta])*
        $vis struct $name {
            $(
                $(#[$fmeta])*
                $fvis $field: $fty,
            )*
        }

        impl $crate::model::Model for $name {
            fn model_def() -> $crate::model::ModelDef {
                let mut def = $crate::model::ModelDef::new(::core::stringify!($name))
                    $($( .$mkey($($mval)?) )*)?;
                let fields: ::std::vec::Vec<$crate::model::FieldDef> = ::std::vec![$(
                    $crate::model::FieldDef::new(
                        ::core::stringify!($field),
                        <$fty as $crate::model::FieldKind>::TYPE,
                    )
                    .set_optional(<$fty as $crate::model::FieldKind>::OPTIONAL)
                    $($( .$fkey($($fval)?) )*)?
                ),*];
                for field in fields {
                    // Only a bare field (a type and optionality, no options) is taken as the id
                    // or a managed field; anything else stays, for validation to refuse.
                    let bare = $crate::model::FieldDef::new(field.name.as_str(), field.ty)
                        .set_optional(field.optional);
                    if field != bare {
                        def.fields.push(field);
                        continue;
                    }
                    match (field.name.as_str(), field.ty) {
                        ("id", $crate::model::FieldType::Integer) => {
                            def.id = $crate::model::IdType::Integer;
                        }
                        ("id", $crate::model::FieldType::String) => {
                            def.id = $crate::model::IdType::String;
                        }
                        ("id", $crate::model::FieldType::Uuid) => {
                            def.id = $crate::model::IdType::Uuid;
                        }
                        (
                            "created_at" | "updated_at" | "deleted_at",
                            $crate::model::FieldType::Datetime,
                        ) => {}
                        _ => def.fields.push(field),
                    }
                }
                def
            }
        }
    };
}
