//! The models several test files share: a small catalogue of authors and their books.

use flowgate::{FieldDef, ModelDef};

/// An author, whose name is unique.
pub fn author() -> ModelDef {
    ModelDef::new("Author").field(FieldDef::string("name").max_length(80).unique())
}

/// A book, with an optional unique ISBN and an optional reference to its author.
pub fn book() -> ModelDef {
    ModelDef::new("Book")
        .field(FieldDef::string("title").max_length(200))
        .field(FieldDef::string("isbn").max_length(20).unique().optional())
        .field(FieldDef::integer("pages").optional())
        .field(
            FieldDef::integer("author_id")
                .references("Author")
                .optional(),
        )
}

/// Authors and books, referenced model first.
pub fn catalogue() -> Vec<ModelDef> {
    vec![author(), book()]
}
