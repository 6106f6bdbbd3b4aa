//! Which field type a Rust type declares, for the `model!` macro.

use super::field::FieldType;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Rust type that stands for a field type. `Option<T>` makes the field optional.
pub trait FieldKind {
    /// The field type.
    const TYPE: FieldType;
    /// Whether the field may be null.
    const OPTIONAL: bool = false;
}

macro_rules! kinds {
    ($($t:ty => $ft:ident),* $(,)?) => {
        $(impl FieldKind for $t { const TYPE: FieldType = FieldType::$ft; })*
    };
}

kinds! {
    String => String,
    i64 => Integer,
    i32 => Integer,
    f64 => Float,
    bool => Boolean,
    rust_decimal::Decimal => Decimal,
    chrono::NaiveDate => Date,
    chrono::DateTime<chrono::Utc> => Datetime,
    uuid::Uuid => Uuid,
    serde_json::Value => Json,
    Bytes => Bytes,
}

impl<T: FieldKind> FieldKind for Option<T> {
    const TYPE: FieldType = T::TYPE;
    const OPTIONAL: bool = true;
}

/// Binary data that serialises as standard base64, the JSON form of a `bytes` field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}
