//! The elements of each stored resource type, from the FHIR R4 resource definitions.
//! Required elements (`req`) are R4's own minimum cardinalities; medvault's extra rule
//! that clinical records name their patient lives in `fhir::resource`.

use medvault_domain::ResourceType;

use super::datatypes::*;
use super::{list, opt, req, req_list, Shape, Ty};

const PATIENT: Ty = Ty::Reference(&["Patient"]);
const PRACTITIONER: Ty = Ty::Reference(&["Practitioner"]);
const ORGANIZATION: Ty = Ty::Reference(&["Organization"]);
const ENCOUNTER: Ty = Ty::Reference(&["Encounter"]);
const PERSON: Ty = Ty::Reference(&["Practitioner", "Patient", "Organization", "CareTeam"]);
const AGE: Ty = QUANTITY_T;

pub fn shape(resource_type: ResourceType) -> &'static Shape {
    match resource_type {
        ResourceType::AllergyIntolerance => &ALLERGY_INTOLERANCE,
        ResourceType::CareTeam => &CARE_TEAM,
        ResourceType::Communication => &COMMUNICATION,
        ResourceType::Condition => &CONDITION,
        ResourceType::Consent => &CONSENT,
        ResourceType::DiagnosticReport => &DIAGNOSTIC_REPORT,
        ResourceType::DocumentReference => &DOCUMENT_REFERENCE,
        ResourceType::Encounter => &ENCOUNTER_SHAPE,
        ResourceType::Immunization => &IMMUNIZATION,
        ResourceType::MedicationRequest => &MEDICATION_REQUEST,
        ResourceType::Observation => &OBSERVATION,
        ResourceType::Organization => &ORGANIZATION_SHAPE,
        ResourceType::Patient => &PATIENT_SHAPE,
        ResourceType::Practitioner => &PRACTITIONER_SHAPE,
    }
}

const fn resource(elements: &'static [super::El]) -> Shape {
    Shape {
        backbone: false,
        elements,
    }
}

static PATIENT_CONTACT: Shape = backbone(&[
    list("relationship", CONCEPT),
    opt("name", HUMAN_NAME_T),
    list("telecom", CONTACT_POINT_T),
    opt("address", ADDRESS_T),
    opt("gender", CODE),
    opt("organization", ORGANIZATION),
    opt("period", PERIOD_T),
]);
static PATIENT_COMMUNICATION: Shape =
    backbone(&[req("language", CONCEPT), opt("preferred", BOOLEAN)]);
static PATIENT_LINK: Shape = backbone(&[req("other", PATIENT), req("type", CODE)]);

static PATIENT_SHAPE: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("active", BOOLEAN),
    list("name", HUMAN_NAME_T),
    list("telecom", CONTACT_POINT_T),
    opt("gender", CODE),
    opt("birthDate", DATE),
    opt(
        "deceased",
        Ty::Choice(&[("Boolean", BOOLEAN), ("DateTime", DATE_TIME)]),
    ),
    list("address", ADDRESS_T),
    opt("maritalStatus", CONCEPT),
    opt(
        "multipleBirth",
        Ty::Choice(&[("Boolean", BOOLEAN), ("Integer", INTEGER)]),
    ),
    list("photo", ATTACHMENT_T),
    list("contact", Ty::Complex(&PATIENT_CONTACT)),
    list("communication", Ty::Complex(&PATIENT_COMMUNICATION)),
    list(
        "generalPractitioner",
        Ty::Reference(&["Organization", "Practitioner"]),
    ),
    opt("managingOrganization", ORGANIZATION),
    list("link", Ty::Complex(&PATIENT_LINK)),
]);

static QUALIFICATION: Shape = backbone(&[
    list("identifier", IDENTIFIER_T),
    req("code", CONCEPT),
    opt("period", PERIOD_T),
    opt("issuer", ORGANIZATION),
]);

static PRACTITIONER_SHAPE: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("active", BOOLEAN),
    list("name", HUMAN_NAME_T),
    list("telecom", CONTACT_POINT_T),
    list("address", ADDRESS_T),
    opt("gender", CODE),
    opt("birthDate", DATE),
    list("photo", ATTACHMENT_T),
    list("qualification", Ty::Complex(&QUALIFICATION)),
    list("communication", CONCEPT),
]);

static ORGANIZATION_CONTACT: Shape = backbone(&[
    opt("purpose", CONCEPT),
    opt("name", HUMAN_NAME_T),
    list("telecom", CONTACT_POINT_T),
    opt("address", ADDRESS_T),
]);

static ORGANIZATION_SHAPE: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("active", BOOLEAN),
    list("type", CONCEPT),
    opt("name", STRING),
    list("alias", STRING),
    list("telecom", CONTACT_POINT_T),
    list("address", ADDRESS_T),
    opt("partOf", ORGANIZATION),
    list("contact", Ty::Complex(&ORGANIZATION_CONTACT)),
]);

static ENCOUNTER_STATUS_HISTORY: Shape = backbone(&[req("status", CODE), req("period", PERIOD_T)]);
static ENCOUNTER_PARTICIPANT: Shape = backbone(&[
    list("type", CONCEPT),
    opt("period", PERIOD_T),
    opt("individual", PRACTITIONER),
]);
static ENCOUNTER_DIAGNOSIS: Shape = backbone(&[
    req("condition", Ty::Reference(&["Condition"])),
    opt("use", CONCEPT),
    opt("rank", POSITIVE_INT),
]);
static ENCOUNTER_HOSPITALIZATION: Shape = backbone(&[
    opt("preAdmissionIdentifier", IDENTIFIER_T),
    opt("admitSource", CONCEPT),
    opt("reAdmission", CONCEPT),
    list("dietPreference", CONCEPT),
    list("specialArrangement", CONCEPT),
    opt("dischargeDisposition", CONCEPT),
]);

static ENCOUNTER_SHAPE: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    req("status", CODE),
    list("statusHistory", Ty::Complex(&ENCOUNTER_STATUS_HISTORY)),
    req("class", CODING_T),
    list("type", CONCEPT),
    opt("serviceType", CONCEPT),
    opt("priority", CONCEPT),
    opt("subject", PATIENT),
    list("participant", Ty::Complex(&ENCOUNTER_PARTICIPANT)),
    opt("period", PERIOD_T),
    opt("length", QUANTITY_T),
    list("reasonCode", CONCEPT),
    list(
        "reasonReference",
        Ty::Reference(&["Condition", "Observation"]),
    ),
    list("diagnosis", Ty::Complex(&ENCOUNTER_DIAGNOSIS)),
    opt("hospitalization", Ty::Complex(&ENCOUNTER_HOSPITALIZATION)),
    opt("serviceProvider", ORGANIZATION),
    opt("partOf", ENCOUNTER),
]);

const OBSERVATION_VALUE: Ty = Ty::Choice(&[
    ("Quantity", QUANTITY_T),
    ("CodeableConcept", CONCEPT),
    ("String", STRING),
    ("Boolean", BOOLEAN),
    ("Integer", INTEGER),
    ("Range", RANGE_T),
    ("Ratio", RATIO_T),
    ("Time", TIME),
    ("DateTime", DATE_TIME),
    ("Period", PERIOD_T),
]);
static REFERENCE_RANGE: Shape = backbone(&[
    opt("low", QUANTITY_T),
    opt("high", QUANTITY_T),
    opt("type", CONCEPT),
    list("appliesTo", CONCEPT),
    opt("age", RANGE_T),
    opt("text", STRING),
]);
static OBSERVATION_COMPONENT: Shape = backbone(&[
    req("code", CONCEPT),
    opt("value", OBSERVATION_VALUE),
    opt("dataAbsentReason", CONCEPT),
    list("interpretation", CONCEPT),
    list("referenceRange", Ty::Complex(&REFERENCE_RANGE)),
]);

static OBSERVATION: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    list("basedOn", Ty::Reference(&["MedicationRequest"])),
    list("partOf", Ty::Reference(&["Immunization"])),
    req("status", CODE),
    list("category", CONCEPT),
    req("code", CONCEPT),
    opt("subject", PATIENT),
    list("focus", ANY_REFERENCE),
    opt("encounter", ENCOUNTER),
    opt(
        "effective",
        Ty::Choice(&[
            ("DateTime", DATE_TIME),
            ("Period", PERIOD_T),
            ("Instant", INSTANT),
        ]),
    ),
    opt("issued", INSTANT),
    list("performer", PERSON),
    opt("value", OBSERVATION_VALUE),
    opt("dataAbsentReason", CONCEPT),
    list("interpretation", CONCEPT),
    list("note", ANNOTATION_T),
    opt("bodySite", CONCEPT),
    opt("method", CONCEPT),
    list("referenceRange", Ty::Complex(&REFERENCE_RANGE)),
    list("hasMember", Ty::Reference(&["Observation"])),
    list(
        "derivedFrom",
        Ty::Reference(&["Observation", "DocumentReference"]),
    ),
    list("component", Ty::Complex(&OBSERVATION_COMPONENT)),
]);

const ONSET: Ty = Ty::Choice(&[
    ("DateTime", DATE_TIME),
    ("Age", AGE),
    ("Period", PERIOD_T),
    ("Range", RANGE_T),
    ("String", STRING),
]);
static CONDITION_STAGE: Shape = backbone(&[
    opt("summary", CONCEPT),
    list(
        "assessment",
        Ty::Reference(&["DiagnosticReport", "Observation"]),
    ),
    opt("type", CONCEPT),
]);
static CONDITION_EVIDENCE: Shape =
    backbone(&[list("code", CONCEPT), list("detail", ANY_REFERENCE)]);

static CONDITION: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("clinicalStatus", CONCEPT),
    opt("verificationStatus", CONCEPT),
    list("category", CONCEPT),
    opt("severity", CONCEPT),
    opt("code", CONCEPT),
    list("bodySite", CONCEPT),
    req("subject", PATIENT),
    opt("encounter", ENCOUNTER),
    opt("onset", ONSET),
    opt("abatement", ONSET),
    opt("recordedDate", DATE_TIME),
    opt("recorder", PERSON),
    opt("asserter", PERSON),
    list("stage", Ty::Complex(&CONDITION_STAGE)),
    list("evidence", Ty::Complex(&CONDITION_EVIDENCE)),
    list("note", ANNOTATION_T),
]);

static ALLERGY_REACTION: Shape = backbone(&[
    opt("substance", CONCEPT),
    req_list("manifestation", CONCEPT),
    opt("description", STRING),
    opt("onset", DATE_TIME),
    opt("severity", CODE),
    opt("exposureRoute", CONCEPT),
    list("note", ANNOTATION_T),
]);

static ALLERGY_INTOLERANCE: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("clinicalStatus", CONCEPT),
    opt("verificationStatus", CONCEPT),
    opt("type", CODE),
    list("category", CODE),
    opt("criticality", CODE),
    opt("code", CONCEPT),
    req("patient", PATIENT),
    opt("encounter", ENCOUNTER),
    opt("onset", ONSET),
    opt("recordedDate", DATE_TIME),
    opt("recorder", PERSON),
    opt("asserter", PERSON),
    opt("lastOccurrence", DATE_TIME),
    list("note", ANNOTATION_T),
    list("reaction", Ty::Complex(&ALLERGY_REACTION)),
]);

static DISPENSE_REQUEST: Shape = backbone(&[
    opt("validityPeriod", PERIOD_T),
    opt("numberOfRepeatsAllowed", UNSIGNED_INT),
    opt("quantity", QUANTITY_T),
    opt("expectedSupplyDuration", QUANTITY_T),
    opt("performer", ORGANIZATION),
]);
static SUBSTITUTION: Shape = backbone(&[
    req(
        "allowed",
        Ty::Choice(&[("Boolean", BOOLEAN), ("CodeableConcept", CONCEPT)]),
    ),
    opt("reason", CONCEPT),
]);

static MEDICATION_REQUEST: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    req("status", CODE),
    opt("statusReason", CONCEPT),
    req("intent", CODE),
    list("category", CONCEPT),
    opt("priority", CODE),
    opt("doNotPerform", BOOLEAN),
    // Medication resources are not stored, so the medication is always a concept.
    req("medication", Ty::Choice(&[("CodeableConcept", CONCEPT)])),
    req("subject", PATIENT),
    opt("encounter", ENCOUNTER),
    opt("authoredOn", DATE_TIME),
    opt("requester", PERSON),
    opt("performer", PERSON),
    opt("recorder", PRACTITIONER),
    list("reasonCode", CONCEPT),
    list(
        "reasonReference",
        Ty::Reference(&["Condition", "Observation"]),
    ),
    list("basedOn", Ty::Reference(&["MedicationRequest"])),
    opt("courseOfTherapyType", CONCEPT),
    list("note", ANNOTATION_T),
    list("dosageInstruction", DOSAGE_T),
    opt("dispenseRequest", Ty::Complex(&DISPENSE_REQUEST)),
    opt("substitution", Ty::Complex(&SUBSTITUTION)),
    opt("priorPrescription", Ty::Reference(&["MedicationRequest"])),
]);

static IMMUNIZATION_PERFORMER: Shape = backbone(&[opt("function", CONCEPT), req("actor", PERSON)]);
static PROTOCOL_APPLIED: Shape = backbone(&[
    opt("series", STRING),
    opt("authority", ORGANIZATION),
    list("targetDisease", CONCEPT),
    req(
        "doseNumber",
        Ty::Choice(&[("PositiveInt", POSITIVE_INT), ("String", STRING)]),
    ),
    opt(
        "seriesDoses",
        Ty::Choice(&[("PositiveInt", POSITIVE_INT), ("String", STRING)]),
    ),
]);

static IMMUNIZATION: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    req("status", CODE),
    opt("statusReason", CONCEPT),
    req("vaccineCode", CONCEPT),
    req("patient", PATIENT),
    opt("encounter", ENCOUNTER),
    req(
        "occurrence",
        Ty::Choice(&[("DateTime", DATE_TIME), ("String", STRING)]),
    ),
    opt("recorded", DATE_TIME),
    opt("primarySource", BOOLEAN),
    opt("manufacturer", ORGANIZATION),
    opt("lotNumber", STRING),
    opt("expirationDate", DATE),
    opt("site", CONCEPT),
    opt("route", CONCEPT),
    opt("doseQuantity", QUANTITY_T),
    list("performer", Ty::Complex(&IMMUNIZATION_PERFORMER)),
    list("note", ANNOTATION_T),
    list("reasonCode", CONCEPT),
    opt("isSubpotent", BOOLEAN),
    list("protocolApplied", Ty::Complex(&PROTOCOL_APPLIED)),
]);

static DIAGNOSTIC_MEDIA: Shape = backbone(&[opt("comment", STRING), req("link", ANY_REFERENCE)]);

static DIAGNOSTIC_REPORT: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    list("basedOn", Ty::Reference(&["MedicationRequest"])),
    req("status", CODE),
    list("category", CONCEPT),
    req("code", CONCEPT),
    opt("subject", PATIENT),
    opt("encounter", ENCOUNTER),
    opt(
        "effective",
        Ty::Choice(&[("DateTime", DATE_TIME), ("Period", PERIOD_T)]),
    ),
    opt("issued", INSTANT),
    list("performer", PERSON),
    list("resultsInterpreter", PERSON),
    list("result", Ty::Reference(&["Observation"])),
    list("media", Ty::Complex(&DIAGNOSTIC_MEDIA)),
    opt("conclusion", STRING),
    list("conclusionCode", CONCEPT),
    list("presentedForm", ATTACHMENT_T),
]);

static RELATES_TO: Shape = backbone(&[
    req("code", CODE),
    req("target", Ty::Reference(&["DocumentReference"])),
]);
static DOCUMENT_CONTENT: Shape =
    backbone(&[req("attachment", ATTACHMENT_T), opt("format", CODING_T)]);
static DOCUMENT_CONTEXT: Shape = backbone(&[
    list("encounter", ENCOUNTER),
    list("event", CONCEPT),
    opt("period", PERIOD_T),
    opt("facilityType", CONCEPT),
    opt("practiceSetting", CONCEPT),
    list("related", ANY_REFERENCE),
]);

static DOCUMENT_REFERENCE: Shape = resource(&[
    opt("masterIdentifier", IDENTIFIER_T),
    list("identifier", IDENTIFIER_T),
    req("status", CODE),
    opt("docStatus", CODE),
    opt("type", CONCEPT),
    list("category", CONCEPT),
    opt("subject", PATIENT),
    opt("date", INSTANT),
    list("author", PERSON),
    opt("authenticator", PERSON),
    opt("custodian", ORGANIZATION),
    list("relatesTo", Ty::Complex(&RELATES_TO)),
    opt("description", STRING),
    list("securityLabel", CONCEPT),
    req_list("content", Ty::Complex(&DOCUMENT_CONTENT)),
    opt("context", Ty::Complex(&DOCUMENT_CONTEXT)),
]);

static CARE_TEAM_PARTICIPANT: Shape = backbone(&[
    list("role", CONCEPT),
    opt("member", PERSON),
    opt("onBehalfOf", ORGANIZATION),
    opt("period", PERIOD_T),
]);

static CARE_TEAM: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    opt("status", CODE),
    list("category", CONCEPT),
    opt("name", STRING),
    opt("subject", PATIENT),
    opt("encounter", ENCOUNTER),
    opt("period", PERIOD_T),
    list("participant", Ty::Complex(&CARE_TEAM_PARTICIPANT)),
    list("reasonCode", CONCEPT),
    list("reasonReference", Ty::Reference(&["Condition"])),
    list("managingOrganization", ORGANIZATION),
    list("telecom", CONTACT_POINT_T),
    list("note", ANNOTATION_T),
]);

static CONSENT_POLICY: Shape = backbone(&[opt("authority", URI), opt("uri", URI)]);
static CONSENT_VERIFICATION: Shape = backbone(&[
    req("verified", BOOLEAN),
    opt("verifiedWith", Ty::Reference(&["Patient"])),
    opt("verificationDate", DATE_TIME),
]);
static CONSENT_ACTOR: Shape = backbone(&[req("role", CONCEPT), req("reference", ANY_REFERENCE)]);
static CONSENT_DATA: Shape = backbone(&[req("meaning", CODE), req("reference", ANY_REFERENCE)]);
static CONSENT_PROVISION: Shape = backbone(&[
    opt("type", CODE),
    opt("period", PERIOD_T),
    list("actor", Ty::Complex(&CONSENT_ACTOR)),
    list("action", CONCEPT),
    list("securityLabel", CODING_T),
    list("purpose", CODING_T),
    list("class", CODING_T),
    list("code", CONCEPT),
    opt("dataPeriod", PERIOD_T),
    list("data", Ty::Complex(&CONSENT_DATA)),
    list("provision", Ty::Complex(&CONSENT_PROVISION)),
]);

static CONSENT: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    req("status", CODE),
    req("scope", CONCEPT),
    req_list("category", CONCEPT),
    opt("patient", PATIENT),
    opt("dateTime", DATE_TIME),
    list("performer", PERSON),
    list("organization", ORGANIZATION),
    opt(
        "source",
        Ty::Choice(&[("Attachment", ATTACHMENT_T), ("Reference", ANY_REFERENCE)]),
    ),
    list("policy", Ty::Complex(&CONSENT_POLICY)),
    opt("policyRule", CONCEPT),
    list("verification", Ty::Complex(&CONSENT_VERIFICATION)),
    opt("provision", Ty::Complex(&CONSENT_PROVISION)),
]);

static COMMUNICATION_PAYLOAD: Shape = backbone(&[req(
    "content",
    Ty::Choice(&[
        ("String", STRING),
        ("Attachment", ATTACHMENT_T),
        ("Reference", ANY_REFERENCE),
    ]),
)]);

static COMMUNICATION: Shape = resource(&[
    list("identifier", IDENTIFIER_T),
    list("basedOn", ANY_REFERENCE),
    list("partOf", ANY_REFERENCE),
    list("inResponseTo", Ty::Reference(&["Communication"])),
    req("status", CODE),
    opt("statusReason", CONCEPT),
    list("category", CONCEPT),
    opt("priority", CODE),
    list("medium", CONCEPT),
    opt("subject", PATIENT),
    list("topic", CONCEPT),
    list("about", ANY_REFERENCE),
    opt("encounter", ENCOUNTER),
    opt("sent", DATE_TIME),
    opt("received", DATE_TIME),
    list("recipient", PERSON),
    opt("sender", PERSON),
    list("reasonCode", CONCEPT),
    list(
        "reasonReference",
        Ty::Reference(&[
            "Condition",
            "Observation",
            "DiagnosticReport",
            "DocumentReference",
        ]),
    ),
    list("payload", Ty::Complex(&COMMUNICATION_PAYLOAD)),
    list("note", ANNOTATION_T),
]);
