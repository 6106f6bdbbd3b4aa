//! Field definitions: a name, a type and the options of DESIGN section 4.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The type of a field. Each maps to the natural native type of each database (see `sql::ddl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Short text, with an optional `max_length`.
    String,
    /// Long text.
    Text,
    /// A 64-bit signed integer.
    Integer,
    /// A 64-bit float.
    Float,
    /// An exact decimal, carried as a string in JSON.
    Decimal,
    /// True or false.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An instant in UTC, RFC 3339 in JSON.
    Datetime,
    /// A UUID, hyphenated text in JSON.
    Uuid,
    /// Any JSON value.
    Json,
    /// Binary data, standard base64 in JSON.
    Bytes,
    /// One of a fixed list of strings (`values`).
    Enum,
}

impl FieldType {
    /// Every type, in the order of DESIGN section 4.
    pub const ALL: [FieldType; 12] = [
        FieldType::String,
        FieldType::Text,
        FieldType::Integer,
        FieldType::Float,
        FieldType::Decimal,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::Datetime,
        FieldType::Uuid,
        FieldType::Json,
        FieldType::Bytes,
        FieldType::Enum,
    ];

    /// The name used in schema files and JSON definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Decimal => "decimal",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Uuid => "uuid",
            FieldType::Json => "json",
            FieldType::Bytes => "bytes",
            FieldType::Enum => "enum",
        }
    }

    /// Parses a type name as schema files spell it.
    pub fn parse(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether values of this type can be compared with `<` and sorted.
    pub fn is_ordered(self) -> bool {
        !matches!(
            self,
            FieldType::Json | FieldType::Bytes | FieldType::Boolean
        )
    }

    /// Whether values of this type are text that patterns (`$like`, `$regex`) apply to.
    pub fn is_textual(self) -> bool {
        matches!(self, FieldType::String | FieldType::Text | FieldType::Enum)
    }

    /// Whether a column of this type can carry an index or a unique constraint everywhere.
    pub fn is_indexable(self) -> bool {
        !matches!(self, FieldType::Text | FieldType::Json | FieldType::Bytes)
    }
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to referencing rows when the referenced row is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Refuse the delete while rows refer to it.
    #[default]
    Restrict,
    /// Delete the referencing rows too.
    Cascade,
    /// Set the reference to null (the field must be optional).
    SetNull,
}

impl OnDelete {
    /// The name used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            OnDelete::Restrict => "restrict",
            OnDelete::Cascade => "cascade",
            OnDelete::SetNull => "set_null",
        }
    }

    /// Parses the schema-file spelling.
    pub fn parse(s: &str) -> Option<OnDelete> {
        [OnDelete::Restrict, OnDelete::Cascade, OnDelete::SetNull]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A value Flowgate computes for a field a create leaves out (`default_fn`): what a database's
/// `DEFAULT now()`, `CURRENT_DATE` or `gen_random_uuid()` gives, computed at the write, so that
/// every database and every insert (Flowgate's name every column) get it alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultFn {
    /// The time of the write (a `datetime` field).
    Now,
    /// The date of the write, in UTC (a `date` field).
    Today,
    /// A new random UUID, version 4 (a `uuid` field).
    Uuid,
}

impl DefaultFn {
    /// The name used in schema files.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultFn::Now => "now",
            DefaultFn::Today => "today",
            DefaultFn::Uuid => "uuid",
        }
    }

    /// Parses the schema-file spelling.
    pub fn parse(s: &str) -> Option<DefaultFn> {
        [DefaultFn::Now, DefaultFn::Today, DefaultFn::Uuid]
            .into_iter()
            .find(|f| f.as_str() == s)
    }

    /// The field type it gives a value of.
    pub fn field_type(self) -> FieldType {
        match self {
            DefaultFn::Now => FieldType::Datetime,
            DefaultFn::Today => FieldType::Date,
            DefaultFn::Uuid => FieldType::Uuid,
        }
    }
}

/// The longest value of a `string` field that declares no `max_length`, in characters. MySQL
/// stores such a field as `VARCHAR(255)`, so every database refuses longer values alike.
pub const DEFAULT_MAX_LENGTH: u32 = 255;

/// One declared field of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    /// The field's name, which is also its column name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// Whether it may be null.
    pub optional: bool,
    /// The value used when a create leaves the field out.
    pub default: Option<Value>,
    /// The value computed when a create leaves the field out (instead of a constant `default`).
    pub default_fn: Option<DefaultFn>,
    /// Whether values are unique across the table.
    pub unique: bool,
    /// Whether the column has an index of its own.
    pub indexed: bool,
    /// The model this field refers to (its id), making it a foreign key.
    pub references: Option<String>,
    /// What deleting the referenced row does.
    pub on_delete: OnDelete,
    /// The longest value of a `string` field, in characters.
    pub max_length: Option<u32>,
    /// The allowed values of an `enum` field.
    pub values: Vec<String>,
    /// Total digits of a `decimal` field.
    pub precision: Option<u32>,
    /// Digits after the point of a `decimal` field.
    pub scale: Option<u32>,
    /// A description that flows into OpenAPI, MCP and CLI help.
    pub description: Option<String>,
    /// Masked (`"***"`) in audit rows (DESIGN 13.5).
    pub sensitive: bool,
}

impl FieldDef {
    /// A required field of the given type with no options.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        FieldDef {
            name: name.into(),
            ty,
            optional: false,
            default: None,
            default_fn: None,
            unique: false,
            indexed: false,
            references: None,
            on_delete: OnDelete::Restrict,
            max_length: None,
            values: Vec::new(),
            precision: None,
            scale: None,
            description: None,
            sensitive: false,
        }
    }

    /// Masks the field's values in audit rows.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// A `string` field.
    pub fn string(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::String)
    }
    /// A `text` field.
    pub fn text(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Text)
    }
    /// An `integer` field.
    pub fn integer(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Integer)
    }
    /// A `float` field.
    pub fn float(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Float)
    }
    /// A `decimal` field.
    pub fn decimal(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Decimal)
    }
    /// A `boolean` field.
    pub fn boolean(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Boolean)
    }
    /// A `date` field.
    pub fn date(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Date)
    }
    /// A `datetime` field.
    pub fn datetime(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Datetime)
    }
    /// A `uuid` field.
    pub fn uuid(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Uuid)
    }
    /// A `json` field.
    pub fn json(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Json)
    }
    /// A `bytes` field.
    pub fn bytes(name: impl Into<String>) -> Self {
        FieldDef::new(name, FieldType::Bytes)
    }
    /// An `enum` field with its allowed values.
    pub fn enumeration<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        FieldDef::new(name, FieldType::Enum).values(values)
    }

    /// The longest value accepted, in characters: `max_length`, or [`DEFAULT_MAX_LENGTH`] for a
    /// `string` that declares none. Other types have no limit.
    pub fn length_limit(&self) -> Option<u32> {
        match self.ty {
            FieldType::String => Some(self.max_length.unwrap_or(DEFAULT_MAX_LENGTH)),
            _ => self.max_length,
        }
    }

    /// Changes the type (the macro uses this to turn a `String` into `text` or `enum`).
    pub fn ty(mut self, ty: FieldType) -> Self {
        self.ty = ty;
        self
    }
    /// Makes the field nullable.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    /// Sets whether the field is nullable.
    pub fn set_optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }
    /// The value a create uses when the field is left out.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self
    }
    /// The value a create computes when the field is left out.
    pub fn default_fn(mut self, f: DefaultFn) -> Self {
        self.default_fn = Some(f);
        self
    }
    /// Whether a create must give the field: not optional, and no default of either kind.
    pub fn required_on_create(&self) -> bool {
        !self.optional && self.default.is_none() && self.default_fn.is_none()
    }
    /// Values must be unique across the table.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    /// Gives the column an index of its own.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }
    /// Makes the field a foreign key to `model`'s id.
    pub fn references(mut self, model: impl Into<String>) -> Self {
        self.references = Some(model.into());
        self
    }
    /// What deleting the referenced row does.
    pub fn on_delete(mut self, on_delete: OnDelete) -> Self {
        self.on_delete = on_delete;
        self
    }
    /// The longest value, in characters.
    pub fn max_length(mut self, max: u32) -> Self {
        self.max_length = Some(max);
        self
    }
    /// Makes the field an `enum` with these values.
    pub fn values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ty = FieldType::Enum;
        self.values = values.into_iter().map(Into::into).collect();
        self
    }
    /// Total digits of a decimal.
    pub fn precision(mut self, precision: u32) -> Self {
        self.precision = Some(precision);
        self
    }
    /// Digits after the point of a decimal.
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = Some(scale);
        self
    }
    /// A description for OpenAPI, MCP and CLI help.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
}
