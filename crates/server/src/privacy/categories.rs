//! What medvault keeps about people, why, and for how long: shared by the data export
//! (GDPR Art. 15(1)(a), (d)) and the record of processing (Art. 30).

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub category: &'static str,
    pub data: &'static str,
    pub purpose: &'static str,
    pub retention: String,
}

/// The categories, with retention from the live configuration.
pub fn categories(
    session_idle_secs: i64,
    session_absolute_secs: i64,
    audit_retention: &str,
) -> Vec<Category> {
    vec![
        Category {
            category: "account",
            data: "email, name, roles, password hash, second factors",
            purpose: "authentication and account security",
            retention: "until the account is erased".into(),
        },
        Category {
            category: "sessions",
            data: "sign-in times, address, user agent",
            purpose: "security (automatic logoff, session revocation)",
            retention: format!("until the session ends: {session_idle_secs} s idle, {session_absolute_secs} s at most"),
        },
        Category {
            category: "health records",
            data: "FHIR resources in the patient's compartment, every version",
            purpose: "treatment",
            retention: "as the operator's medical-record retention rules require; encrypted under the patient's own key".into(),
        },
        Category {
            category: "audit trail",
            data: "who accessed which record, when and why (ids and codes only)",
            purpose: "HIPAA §164.312(b) accountability and the patient's access log",
            retention: format!("{audit_retention}, then pruned at a signed checkpoint"),
        },
    ]
}
