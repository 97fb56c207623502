//! `Text`: a request field that accepts a JSON string and nothing else.
//!
//! poem-openapi's `String` also accepts numbers and booleans (turning `42` into `"42"`), which
//! would let `{"name": 42}` register a user named "42". Request bodies use `Text` so a wrong type
//! is a 400 `validation_failed`, as the contract requires. Validators such as `max_length` work
//! on it as on `String`.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

#[derive(Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Request strings may be passwords or tokens: never printed.
impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Text(..)")
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Text> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Text(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_strings_are_text() {
        assert_eq!(Text::parse_from_json(Some(json!("ada"))).ok(), Some(Text("ada".into())));
        for wrong in [json!(42), json!(true), json!(null), json!(["a"]), json!({"a": 1})] {
            assert!(Text::parse_from_json(Some(wrong.clone())).is_err(), "{wrong}");
        }
        assert!(Text::parse_from_json(None).is_err());
    }
}
