//! The search parameters each stored type supports (FHIR R4 search parameter registry),
//! and the element paths they read. The CapabilityStatement is generated from this table,
//! so what it lists is exactly what works.

use medvault_domain::ResourceType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Token,
    String,
    Reference,
    Date,
}

impl Kind {
    pub fn code(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::String => "string",
            Self::Reference => "reference",
            Self::Date => "date",
        }
    }
}

/// A search parameter: its name, type, and the paths whose values it matches. A path's
/// last segment may end in `[x]` to match every type of a choice element.
#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub paths: &'static [&'static str],
    /// `patient` and `subject` search the compartment column rather than tokens.
    pub compartment: bool,
}

const fn p(name: &'static str, kind: Kind, paths: &'static [&'static str]) -> Param {
    Param {
        name,
        kind,
        paths,
        compartment: false,
    }
}

const fn compartment(name: &'static str, paths: &'static [&'static str]) -> Param {
    Param {
        name,
        kind: Kind::Reference,
        paths,
        compartment: true,
    }
}

use Kind::{Date, Reference, String as Str, Token};

static PATIENT: &[Param] = &[
    p("identifier", Token, &["identifier"]),
    p("family", Str, &["name.family"]),
    p("given", Str, &["name.given"]),
    p(
        "name",
        Str,
        &[
            "name.family",
            "name.given",
            "name.text",
            "name.prefix",
            "name.suffix",
        ],
    ),
    p("birthdate", Date, &["birthDate"]),
    p("gender", Token, &["gender"]),
    p("active", Token, &["active"]),
    p("organization", Reference, &["managingOrganization"]),
];

static PRACTITIONER: &[Param] = &[
    p("identifier", Token, &["identifier"]),
    p("family", Str, &["name.family"]),
    p("given", Str, &["name.given"]),
    p(
        "name",
        Str,
        &[
            "name.family",
            "name.given",
            "name.text",
            "name.prefix",
            "name.suffix",
        ],
    ),
    p("active", Token, &["active"]),
];

static ORGANIZATION: &[Param] = &[
    p("identifier", Token, &["identifier"]),
    p("name", Str, &["name", "alias"]),
    p("active", Token, &["active"]),
];

static OBSERVATION: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("code", Token, &["code"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("date", Date, &["effective[x]"]),
    p("encounter", Reference, &["encounter"]),
    p("identifier", Token, &["identifier"]),
];

static CONDITION: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("code", Token, &["code"]),
    p("category", Token, &["category"]),
    p("clinical-status", Token, &["clinicalStatus"]),
    p("date", Date, &["recordedDate"]),
    p("onset-date", Date, &["onset[x]"]),
    p("encounter", Reference, &["encounter"]),
    p("identifier", Token, &["identifier"]),
];

static ALLERGY_INTOLERANCE: &[Param] = &[
    compartment("patient", &["patient"]),
    p("code", Token, &["code", "reaction.substance"]),
    p("category", Token, &["category"]),
    p("clinical-status", Token, &["clinicalStatus"]),
    p("criticality", Token, &["criticality"]),
    p("date", Date, &["recordedDate"]),
    p("identifier", Token, &["identifier"]),
];

static MEDICATION_REQUEST: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("code", Token, &["medication[x]"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("intent", Token, &["intent"]),
    p("date", Date, &["authoredOn"]),
    p("authoredon", Date, &["authoredOn"]),
    p("requester", Reference, &["requester"]),
    p("encounter", Reference, &["encounter"]),
    p("identifier", Token, &["identifier"]),
];

static IMMUNIZATION: &[Param] = &[
    compartment("patient", &["patient"]),
    p("vaccine-code", Token, &["vaccineCode"]),
    p("code", Token, &["vaccineCode"]),
    p("status", Token, &["status"]),
    p("date", Date, &["occurrence[x]"]),
    p("identifier", Token, &["identifier"]),
];

static DIAGNOSTIC_REPORT: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("code", Token, &["code"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("date", Date, &["effective[x]"]),
    p("result", Reference, &["result"]),
    p("encounter", Reference, &["encounter"]),
    p("identifier", Token, &["identifier"]),
];

static DOCUMENT_REFERENCE: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("type", Token, &["type"]),
    p("code", Token, &["type"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("date", Date, &["date"]),
    p("identifier", Token, &["identifier", "masterIdentifier"]),
];

static ENCOUNTER: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("type", Token, &["type"]),
    p("code", Token, &["type"]),
    p("class", Token, &["class"]),
    p("status", Token, &["status"]),
    p("date", Date, &["period"]),
    p("participant", Reference, &["participant.individual"]),
    p("identifier", Token, &["identifier"]),
];

static CARE_TEAM: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("participant", Reference, &["participant.member"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("date", Date, &["period"]),
    p("identifier", Token, &["identifier"]),
];

static CONSENT: &[Param] = &[
    compartment("patient", &["patient"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("scope", Token, &["scope"]),
    p("date", Date, &["dateTime"]),
    p("actor", Reference, &["provision.actor.reference"]),
    p("identifier", Token, &["identifier"]),
];

static COMMUNICATION: &[Param] = &[
    compartment("patient", &["subject"]),
    compartment("subject", &["subject"]),
    p("category", Token, &["category"]),
    p("status", Token, &["status"]),
    p("date", Date, &["sent"]),
    p("sent", Date, &["sent"]),
    p("sender", Reference, &["sender"]),
    p("recipient", Reference, &["recipient"]),
    p("identifier", Token, &["identifier"]),
];

/// Parameters every type has besides `_id` and `_lastUpdated`: `_security`, the security
/// labels (such as a purpose of use, which retention rules select by).
static COMMON: &[Param] = &[p("_security", Token, &["meta.security"])];

fn specific(resource_type: ResourceType) -> &'static [Param] {
    match resource_type {
        ResourceType::AllergyIntolerance => ALLERGY_INTOLERANCE,
        ResourceType::CareTeam => CARE_TEAM,
        ResourceType::Communication => COMMUNICATION,
        ResourceType::Condition => CONDITION,
        ResourceType::Consent => CONSENT,
        ResourceType::DiagnosticReport => DIAGNOSTIC_REPORT,
        ResourceType::DocumentReference => DOCUMENT_REFERENCE,
        ResourceType::Encounter => ENCOUNTER,
        ResourceType::Immunization => IMMUNIZATION,
        ResourceType::MedicationRequest => MEDICATION_REQUEST,
        ResourceType::Observation => OBSERVATION,
        ResourceType::Organization => ORGANIZATION,
        ResourceType::Patient => PATIENT,
        ResourceType::Practitioner => PRACTITIONER,
    }
}

/// The parameters of `resource_type`: its own, then the [`COMMON`] ones (`_id` and
/// `_lastUpdated` are handled apart).
pub fn of(resource_type: ResourceType) -> impl Iterator<Item = &'static Param> {
    specific(resource_type).iter().chain(COMMON)
}

pub fn find(resource_type: ResourceType, name: &str) -> Option<&'static Param> {
    of(resource_type).find(|param| param.name == name)
}
