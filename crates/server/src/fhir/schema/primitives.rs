//! FHIR R4 primitive datatypes (§2.24.0.1) and their JSON representations.

use base64::Engine;
use serde_json::Value;

use crate::fhir::dates::{self, Form};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    Str,
    Markdown,
    Code,
    Id,
    Uri,
    Bool,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    Date,
    DateTime,
    Instant,
    Time,
    Base64,
    /// Narrative XHTML: a string; medvault never renders it.
    Xhtml,
}

impl Prim {
    /// Checks `value`; the message names the expected type, never the value (it may be PHI).
    pub fn check(self, value: &Value) -> Result<(), &'static str> {
        let ok = match self {
            Self::Bool => value.is_boolean(),
            Self::Decimal => value.is_number(),
            Self::Integer => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Self::PositiveInt => value
                .as_i64()
                .is_some_and(|n| (1..=i64::from(i32::MAX)).contains(&n)),
            Self::UnsignedInt => value
                .as_i64()
                .is_some_and(|n| (0..=i64::from(i32::MAX)).contains(&n)),
            _ => match value.as_str() {
                Some(text) => self.check_text(text),
                None => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(self.expectation())
        }
    }

    fn check_text(self, text: &str) -> bool {
        // FHIR JSON: string values are never empty (R4 §2.6.2).
        if text.is_empty() {
            return false;
        }
        match self {
            Self::Str | Self::Markdown | Self::Xhtml => true,
            Self::Code => text.trim() == text && !text.contains("  "),
            Self::Id => text.parse::<medvault_domain::FhirId>().is_ok(),
            Self::Uri => !text.chars().any(char::is_whitespace),
            Self::Date => dates::parse(text, Form::Date).is_some(),
            Self::DateTime => dates::parse(text, Form::DateTime).is_some(),
            Self::Instant => dates::parse(text, Form::Instant).is_some(),
            Self::Time => dates::parse(&format!("2000-01-01T{text}Z"), Form::Instant).is_some(),
            Self::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .is_ok(),
            Self::Bool | Self::Decimal | Self::Integer | Self::PositiveInt | Self::UnsignedInt => {
                false
            }
        }
    }

    fn expectation(self) -> &'static str {
        match self {
            Self::Str | Self::Markdown | Self::Xhtml => "must be a non-empty string",
            Self::Code => "must be a code (a string without surrounding or repeated spaces)",
            Self::Id => "must be an id (1 to 64 letters, digits, '-' or '.')",
            Self::Uri => "must be a URI without whitespace",
            Self::Bool => "must be true or false",
            Self::Integer => "must be a 32-bit integer",
            Self::PositiveInt => "must be a positive integer",
            Self::UnsignedInt => "must be a non-negative integer",
            Self::Decimal => "must be a number",
            Self::Date => "must be a date (YYYY, YYYY-MM or YYYY-MM-DD)",
            Self::DateTime => "must be a dateTime (a date, or YYYY-MM-DDThh:mm:ss with a zone)",
            Self::Instant => "must be an instant (YYYY-MM-DDThh:mm:ss with a zone)",
            Self::Time => "must be a time (hh:mm:ss)",
            Self::Base64 => "must be base64",
        }
    }
}
