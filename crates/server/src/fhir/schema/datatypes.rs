//! The R4 general-purpose datatypes medvault's resources use (FHIR R4 §2.24).

use super::{list, opt, req, El, Prim, Shape, Ty};

pub const STRING: Ty = Ty::Prim(Prim::Str);
pub const MARKDOWN: Ty = Ty::Prim(Prim::Markdown);
pub const CODE: Ty = Ty::Prim(Prim::Code);
pub const URI: Ty = Ty::Prim(Prim::Uri);
pub const BOOLEAN: Ty = Ty::Prim(Prim::Bool);
pub const INTEGER: Ty = Ty::Prim(Prim::Integer);
pub const POSITIVE_INT: Ty = Ty::Prim(Prim::PositiveInt);
pub const UNSIGNED_INT: Ty = Ty::Prim(Prim::UnsignedInt);
pub const DECIMAL: Ty = Ty::Prim(Prim::Decimal);
pub const DATE: Ty = Ty::Prim(Prim::Date);
pub const DATE_TIME: Ty = Ty::Prim(Prim::DateTime);
pub const INSTANT: Ty = Ty::Prim(Prim::Instant);
pub const TIME: Ty = Ty::Prim(Prim::Time);
pub const BASE64: Ty = Ty::Prim(Prim::Base64);

pub const CODING_T: Ty = Ty::Complex(&CODING);
pub const CONCEPT: Ty = Ty::Complex(&CODEABLE_CONCEPT);
pub const IDENTIFIER_T: Ty = Ty::Complex(&IDENTIFIER);
pub const PERIOD_T: Ty = Ty::Complex(&PERIOD);
pub const QUANTITY_T: Ty = Ty::Complex(&QUANTITY);
pub const RANGE_T: Ty = Ty::Complex(&RANGE);
pub const RATIO_T: Ty = Ty::Complex(&RATIO);
pub const HUMAN_NAME_T: Ty = Ty::Complex(&HUMAN_NAME);
pub const CONTACT_POINT_T: Ty = Ty::Complex(&CONTACT_POINT);
pub const ADDRESS_T: Ty = Ty::Complex(&ADDRESS);
pub const ATTACHMENT_T: Ty = Ty::Complex(&ATTACHMENT);
pub const ANNOTATION_T: Ty = Ty::Complex(&ANNOTATION);
pub const DOSAGE_T: Ty = Ty::Complex(&DOSAGE);
pub const TIMING_T: Ty = Ty::Complex(&TIMING);

/// A Reference to any stored type.
pub const ANY_REFERENCE: Ty = Ty::Reference(&[]);

const fn shape(elements: &'static [El]) -> Shape {
    Shape {
        backbone: false,
        elements,
    }
}

/// A backbone element: its own elements plus `modifierExtension`.
pub const fn backbone(elements: &'static [El]) -> Shape {
    Shape {
        backbone: true,
        elements,
    }
}

pub static CODING: Shape = shape(&[
    opt("system", URI),
    opt("version", STRING),
    opt("code", CODE),
    opt("display", STRING),
    opt("userSelected", BOOLEAN),
]);

pub static CODEABLE_CONCEPT: Shape = shape(&[list("coding", CODING_T), opt("text", STRING)]);

pub static PERIOD: Shape = shape(&[opt("start", DATE_TIME), opt("end", DATE_TIME)]);

pub static IDENTIFIER: Shape = shape(&[
    opt("use", CODE),
    opt("type", CONCEPT),
    opt("system", URI),
    opt("value", STRING),
    opt("period", PERIOD_T),
    opt("assigner", Ty::Reference(&["Organization"])),
]);

pub static REFERENCE: Shape = shape(&[
    opt("reference", STRING),
    opt("type", URI),
    opt("identifier", IDENTIFIER_T),
    opt("display", STRING),
]);

pub static QUANTITY: Shape = shape(&[
    opt("value", DECIMAL),
    opt("comparator", CODE),
    opt("unit", STRING),
    opt("system", URI),
    opt("code", CODE),
]);

pub static RANGE: Shape = shape(&[opt("low", QUANTITY_T), opt("high", QUANTITY_T)]);

pub static RATIO: Shape = shape(&[opt("numerator", QUANTITY_T), opt("denominator", QUANTITY_T)]);

pub static HUMAN_NAME: Shape = shape(&[
    opt("use", CODE),
    opt("text", STRING),
    opt("family", STRING),
    list("given", STRING),
    list("prefix", STRING),
    list("suffix", STRING),
    opt("period", PERIOD_T),
]);

pub static CONTACT_POINT: Shape = shape(&[
    opt("system", CODE),
    opt("value", STRING),
    opt("use", CODE),
    opt("rank", POSITIVE_INT),
    opt("period", PERIOD_T),
]);

pub static ADDRESS: Shape = shape(&[
    opt("use", CODE),
    opt("type", CODE),
    opt("text", STRING),
    list("line", STRING),
    opt("city", STRING),
    opt("district", STRING),
    opt("state", STRING),
    opt("postalCode", STRING),
    opt("country", STRING),
    opt("period", PERIOD_T),
]);

pub static ATTACHMENT: Shape = shape(&[
    opt("contentType", CODE),
    opt("language", CODE),
    opt("data", BASE64),
    opt("url", URI),
    opt("size", UNSIGNED_INT),
    opt("hash", BASE64),
    opt("title", STRING),
    opt("creation", DATE_TIME),
]);

pub static ANNOTATION: Shape = shape(&[
    opt(
        "author",
        Ty::Choice(&[
            (
                "Reference",
                Ty::Reference(&["Practitioner", "Patient", "Organization"]),
            ),
            ("String", STRING),
        ]),
    ),
    opt("time", DATE_TIME),
    req("text", MARKDOWN),
]);

pub static META: Shape = shape(&[
    opt("versionId", Ty::Prim(Prim::Id)),
    opt("lastUpdated", INSTANT),
    opt("source", URI),
    list("profile", URI),
    list("security", CODING_T),
    list("tag", CODING_T),
]);

pub static NARRATIVE: Shape = shape(&[req("status", CODE), req("div", Ty::Prim(Prim::Xhtml))]);

pub static EXTENSION: Shape = shape(&[
    req("url", URI),
    opt(
        "value",
        Ty::Choice(&[
            ("Boolean", BOOLEAN),
            ("Code", CODE),
            ("Date", DATE),
            ("DateTime", DATE_TIME),
            ("Decimal", DECIMAL),
            ("Integer", INTEGER),
            ("String", STRING),
            ("Uri", URI),
            ("Coding", CODING_T),
            ("CodeableConcept", CONCEPT),
            ("Identifier", IDENTIFIER_T),
            ("Period", PERIOD_T),
            ("Quantity", QUANTITY_T),
            ("Reference", ANY_REFERENCE),
            ("Address", ADDRESS_T),
        ]),
    ),
]);

pub static TIMING_REPEAT: Shape = shape(&[
    opt(
        "bounds",
        Ty::Choice(&[
            ("Period", PERIOD_T),
            ("Range", RANGE_T),
            ("Duration", QUANTITY_T),
        ]),
    ),
    opt("count", POSITIVE_INT),
    opt("duration", DECIMAL),
    opt("durationUnit", CODE),
    opt("frequency", POSITIVE_INT),
    opt("frequencyMax", POSITIVE_INT),
    opt("period", DECIMAL),
    opt("periodUnit", CODE),
    list("dayOfWeek", CODE),
    list("timeOfDay", TIME),
    list("when", CODE),
    opt("offset", UNSIGNED_INT),
]);

pub static TIMING: Shape = backbone(&[
    list("event", DATE_TIME),
    opt("repeat", Ty::Complex(&TIMING_REPEAT)),
    opt("code", CONCEPT),
]);

pub static DOSE_AND_RATE: Shape = shape(&[
    opt("type", CONCEPT),
    opt(
        "dose",
        Ty::Choice(&[("Range", RANGE_T), ("Quantity", QUANTITY_T)]),
    ),
    opt(
        "rate",
        Ty::Choice(&[
            ("Ratio", RATIO_T),
            ("Range", RANGE_T),
            ("Quantity", QUANTITY_T),
        ]),
    ),
]);

pub static DOSAGE: Shape = backbone(&[
    opt("sequence", INTEGER),
    opt("text", STRING),
    list("additionalInstruction", CONCEPT),
    opt("patientInstruction", STRING),
    opt("timing", TIMING_T),
    opt(
        "asNeeded",
        Ty::Choice(&[("Boolean", BOOLEAN), ("CodeableConcept", CONCEPT)]),
    ),
    opt("site", CONCEPT),
    opt("route", CONCEPT),
    opt("method", CONCEPT),
    list("doseAndRate", Ty::Complex(&DOSE_AND_RATE)),
    opt("maxDosePerPeriod", RATIO_T),
]);
