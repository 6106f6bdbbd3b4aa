//! Relations between models, found from their references (DESIGN 13.10): a field that refers
//! to another model is a belongs-to relation of its model and a has-many relation of the model
//! it refers to. Their names are what `expand` takes and what the model views list.

use super::def::ModelDef;
use serde_json::{Value, json};

/// Which side of a reference a relation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// This model's field refers to the other model: one record (or none).
    BelongsTo,
    /// The other model's field refers to this model: a list of records.
    HasMany,
}

impl RelationKind {
    /// `belongs_to` or `has_many`.
    pub fn as_str(self) -> &'static str {
        match self {
            RelationKind::BelongsTo => "belongs_to",
            RelationKind::HasMany => "has_many",
        }
    }
}

/// One relation of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Its name: a belongs-to is its field without `_id` (`author_id` → `author`); a has-many
    /// is the other model's table (`books`), or `books_by_<field>` when that model refers to
    /// this one through several fields.
    pub name: String,
    /// Which side it is.
    pub kind: RelationKind,
    /// The other model.
    pub model: String,
    /// The referring field: this model's for a belongs-to, the other model's for a has-many.
    pub field: String,
}

impl Relation {
    /// `{"name", "kind", "model", "field"}`, as the model views show it.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "kind": self.kind.as_str(), "model": self.model, "field": self.field})
    }
}

fn stem(field: &str) -> &str {
    field
        .strip_suffix("_id")
        .filter(|s| !s.is_empty())
        .unwrap_or(field)
}

/// The relations of `model` among `all` (which includes it), belongs-to first, each group in
/// field order then model order. A name that would equal one of the model's fields, or another
/// relation's name, takes a suffix (`author_ref`, `books_by_editor`) so that every relation
/// can be named in `expand` and sits beside the fields of a record without hiding one.
pub fn relations<'a>(
    model: &ModelDef,
    all: impl IntoIterator<Item = &'a ModelDef>,
) -> Vec<Relation> {
    let referring: Vec<(&ModelDef, &str)> = all
        .into_iter()
        .flat_map(|other| {
            other
                .fields
                .iter()
                .filter(|f| f.references.as_deref() == Some(model.name.as_str()))
                .map(move |f| (other, f.name.as_str()))
        })
        .collect();
    relations_with(model, &referring)
}

/// [`relations`] of every model of `all`, by model name, in one pass over their fields (a
/// served set of thousands of models is not scanned once per model).
pub fn all_relations<'a>(
    all: impl IntoIterator<Item = &'a ModelDef> + Clone,
) -> std::collections::HashMap<String, Vec<Relation>> {
    let mut referring: std::collections::HashMap<&str, Vec<(&ModelDef, &str)>> =
        std::collections::HashMap::new();
    for other in all.clone() {
        for f in &other.fields {
            if let Some(target) = &f.references {
                referring
                    .entry(target.as_str())
                    .or_default()
                    .push((other, f.name.as_str()));
            }
        }
    }
    all.into_iter()
        .map(|m| {
            let refs = referring
                .get(m.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            (m.name.clone(), relations_with(m, refs))
        })
        .collect()
}

/// The relations of `model`, given the fields of other models that refer to it, in model order.
fn relations_with(model: &ModelDef, referring: &[(&ModelDef, &str)]) -> Vec<Relation> {
    let taken = |name: &str, out: &[Relation]| {
        name == "id"
            || model.fields.iter().any(|f| f.name == name)
            || out.iter().any(|r| r.name == name)
    };
    let mut out: Vec<Relation> = Vec::new();
    for f in &model.fields {
        let Some(target) = &f.references else {
            continue;
        };
        let mut name = stem(&f.name).to_string();
        if taken(&name, &out) {
            name = format!("{}_ref", f.name);
        }
        out.push(Relation {
            name,
            kind: RelationKind::BelongsTo,
            model: target.clone(),
            field: f.name.clone(),
        });
    }
    let mut at = 0;
    while at < referring.len() {
        let other = referring[at].0;
        let fields: Vec<&str> = referring[at..]
            .iter()
            .take_while(|(o, _)| o.name == other.name)
            .map(|(_, f)| *f)
            .collect();
        at += fields.len();
        let table = other.table_name();
        for field in &fields {
            let mut name = if fields.len() == 1 {
                table.clone()
            } else {
                format!("{table}_by_{}", stem(field))
            };
            if taken(&name, &out) {
                name = format!("{table}_by_{field}");
            }
            out.push(Relation {
                name,
                kind: RelationKind::HasMany,
                model: other.name.clone(),
                field: field.to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FieldDef;

    #[test]
    fn references_give_relations_both_ways() {
        let author = ModelDef::new("Author").field(FieldDef::string("name"));
        let book = ModelDef::new("Book")
            .field(FieldDef::integer("author_id").references("Author"))
            .field(
                FieldDef::integer("editor_id")
                    .references("Author")
                    .optional(),
            );
        let category = ModelDef::new("Category").field(
            FieldDef::integer("parent_id")
                .references("Category")
                .optional(),
        );
        let all = [author.clone(), book.clone(), category.clone()];
        let names = |m: &ModelDef| -> Vec<(String, RelationKind, String)> {
            relations(m, &all)
                .into_iter()
                .map(|r| (r.name, r.kind, r.field))
                .collect()
        };
        use RelationKind::*;
        assert_eq!(
            names(&author),
            [
                ("books_by_author".into(), HasMany, "author_id".into()),
                ("books_by_editor".into(), HasMany, "editor_id".into()),
            ]
        );
        assert_eq!(
            names(&book),
            [
                ("author".into(), BelongsTo, "author_id".into()),
                ("editor".into(), BelongsTo, "editor_id".into()),
            ]
        );
        assert_eq!(
            names(&category),
            [
                ("parent".into(), BelongsTo, "parent_id".into()),
                ("categories".into(), HasMany, "parent_id".into()),
            ]
        );
        // A field that is already called like the relation keeps its name.
        let clash = ModelDef::new("Post")
            .field(FieldDef::string("author"))
            .field(FieldDef::integer("author_id").references("Author"));
        assert_eq!(
            relations(&clash, [&clash, &author])[0].name,
            "author_id_ref"
        );
    }
}
