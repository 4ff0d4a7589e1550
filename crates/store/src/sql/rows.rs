//! Row decoding shared by the SQL backends. A row that does not decode is corruption,
//! reported as a backend failure (never as "not found").

use medvault_domain::{
    Actor, AuditAction, AuditEvent, AuditedResource, Email, MasterKeyId, Outcome, PurposeOfUse,
    Roles, Session, UnixMillis, User, WrappedDataKey,
};

use crate::{AuditCheckpoint, ChainedEntry, SigningKeyRecord, SigningKeyState, StoreError};

pub fn corrupt(what: &'static str) -> StoreError {
    StoreError::Backend(format!("corrupt {what} row").into())
}

fn parse<T: std::str::FromStr>(value: &str, what: &'static str) -> Result<T, StoreError> {
    value.parse().map_err(|_| corrupt(what))
}

fn parse_opt<T: std::str::FromStr>(
    value: Option<String>,
    what: &'static str,
) -> Result<Option<T>, StoreError> {
    value.map(|v| parse(&v, what)).transpose()
}

pub type DataKeyRow = (String, String, Vec<u8>);

pub fn data_key(row: DataKeyRow) -> Result<WrappedDataKey, StoreError> {
    let (patient, master_key_id, sealed) = row;
    Ok(WrappedDataKey {
        patient: parse(&patient, "data key")?,
        master_key_id: parse::<MasterKeyId>(&master_key_id, "data key")?,
        sealed,
    })
}

pub const USER_COLUMNS: &str =
    "id, email, display_name, status, roles, patient_id, practitioner_id, organization_id, \
     created_at, updated_at";

pub type UserRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

pub fn user(row: UserRow) -> Result<User, StoreError> {
    let (
        id,
        email,
        display_name,
        status,
        roles,
        patient_id,
        practitioner_id,
        organization_id,
        created_at,
        updated_at,
    ) = row;
    Ok(User {
        id: parse(&id, "user")?,
        email: parse::<Email>(&email, "user")?,
        display_name: parse_opt(display_name, "user")?,
        status: parse(&status, "user")?,
        roles: Roles::from_space_separated(&roles).map_err(|_| corrupt("user"))?,
        patient_id: parse_opt(patient_id, "user")?,
        practitioner_id: parse_opt(practitioner_id, "user")?,
        organization_id: parse_opt(organization_id, "user")?,
        created_at: UnixMillis(created_at),
        updated_at: UnixMillis(updated_at),
    })
}

pub const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, idle_expires_at, \
     absolute_expires_at, ip, user_agent, amr, revoked_at, mfa_at";

pub type SessionRow = (
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<i64>,
    Option<i64>,
);

pub fn session(row: SessionRow) -> Result<Session, StoreError> {
    let (id, user_id, created, last_seen, idle, absolute, ip, user_agent, amr, revoked, mfa) = row;
    Ok(Session {
        id: parse(&id, "session")?,
        user_id: parse(&user_id, "session")?,
        created_at: UnixMillis(created),
        last_seen_at: UnixMillis(last_seen),
        idle_expires_at: UnixMillis(idle),
        absolute_expires_at: UnixMillis(absolute),
        ip,
        user_agent,
        amr: amr.split_whitespace().map(str::to_owned).collect(),
        revoked_at: revoked.map(UnixMillis),
        mfa_at: mfa.map(UnixMillis),
    })
}

pub const SIGNING_KEY_COLUMNS: &str =
    "kid, alg, sealed_private, public_jwk, state, created_at, state_since, publish_until";

pub type SigningKeyRow = (
    String,
    String,
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

pub fn signing_key(row: SigningKeyRow) -> Result<SigningKeyRecord, StoreError> {
    let (kid, alg, sealed_private, public_jwk, state, created_at, state_since, publish_until) = row;
    Ok(SigningKeyRecord {
        kid,
        alg,
        sealed_private,
        public_jwk,
        state: SigningKeyState::parse(&state).ok_or_else(|| corrupt("signing key"))?,
        created_at: UnixMillis(created_at),
        state_since: UnixMillis(state_since),
        publish_until: publish_until.map(UnixMillis),
    })
}

pub const AUDIT_COLUMNS: &str = "seq, prev_hash, hash, at, actor_kind, actor_id, actor_roles, \
     action, outcome, resource_kind, resource_id, patient_id, purpose, session_id, source_ip, \
     request_id, policy";

/// One `AUDIT_COLUMNS` row: more columns than sqlx decodes into a tuple.
#[derive(Debug)]
pub struct AuditRow {
    pub seq: i64,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    pub at: i64,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_roles: Option<String>,
    pub action: String,
    pub outcome: String,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub purpose: Option<String>,
    pub session_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub policy: Option<String>,
}

impl<'r, R> sqlx::FromRow<'r, R> for AuditRow
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: row.try_get(0)?,
            prev_hash: row.try_get(1)?,
            hash: row.try_get(2)?,
            at: row.try_get(3)?,
            actor_kind: row.try_get(4)?,
            actor_id: row.try_get(5)?,
            actor_roles: row.try_get(6)?,
            action: row.try_get(7)?,
            outcome: row.try_get(8)?,
            resource_kind: row.try_get(9)?,
            resource_id: row.try_get(10)?,
            patient_id: row.try_get(11)?,
            purpose: row.try_get(12)?,
            session_id: row.try_get(13)?,
            source_ip: row.try_get(14)?,
            request_id: row.try_get(15)?,
            policy: row.try_get(16)?,
        })
    }
}

/// The columns an event is stored as, in `AUDIT_COLUMNS` order after `seq`.
#[derive(Debug)]
pub struct AuditColumns {
    pub at: i64,
    pub actor_kind: &'static str,
    pub actor_id: Option<String>,
    pub actor_roles: Option<String>,
    pub action: &'static str,
    pub outcome: &'static str,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    pub patient_id: Option<String>,
    pub purpose: Option<&'static str>,
    pub session_id: Option<String>,
    pub source_ip: Option<String>,
    pub request_id: Option<String>,
    pub policy: Option<String>,
}

/// The canonical form of an entry's columns that the chain hashes, computed by the database
/// itself when verifying (see [`AUDIT_CANONICAL_SQL`]) so verification reads one column, not
/// thirteen. Each value is `<length in characters>:<value>`, or `-` for NULL, joined by `;`:
/// unambiguous whatever the values hold, and defined by storage, not by Rust types.
pub fn audit_canonical(c: &AuditColumns) -> String {
    let field = |value: Option<&str>| match value {
        Some(v) => format!("{}:{v}", v.chars().count()),
        None => "-".to_owned(),
    };
    let fields = [
        c.at.to_string(),
        field(Some(c.actor_kind)),
        field(c.actor_id.as_deref()),
        field(c.actor_roles.as_deref()),
        field(Some(c.action)),
        field(Some(c.outcome)),
        field(c.resource_kind.as_deref()),
        field(c.resource_id.as_deref()),
        field(c.patient_id.as_deref()),
        field(c.purpose),
        field(c.session_id.as_deref()),
        field(c.source_ip.as_deref()),
        field(c.request_id.as_deref()),
    ];
    let mut canonical = fields.join(";");
    // Added later, so only present values join the form: entries written before it
    // existed keep their hashes.
    if let Some(policy) = c.policy.as_deref() {
        canonical.push(';');
        canonical.push_str(&field(Some(policy)));
    }
    canonical
}

/// [`audit_canonical`] as SQL that SQLite and PostgreSQL evaluate identically
/// (`length` counts characters in both; `'1' || NULL` is NULL in both).
pub const AUDIT_CANONICAL_SQL: &str = "CAST(at AS TEXT) \
    || ';' || length(actor_kind) || ':' || actor_kind \
    || ';' || coalesce(length(actor_id) || ':' || actor_id, '-') \
    || ';' || coalesce(length(actor_roles) || ':' || actor_roles, '-') \
    || ';' || length(action) || ':' || action \
    || ';' || length(outcome) || ':' || outcome \
    || ';' || coalesce(length(resource_kind) || ':' || resource_kind, '-') \
    || ';' || coalesce(length(resource_id) || ':' || resource_id, '-') \
    || ';' || coalesce(length(patient_id) || ':' || patient_id, '-') \
    || ';' || coalesce(length(purpose) || ':' || purpose, '-') \
    || ';' || coalesce(length(session_id) || ':' || session_id, '-') \
    || ';' || coalesce(length(source_ip) || ':' || source_ip, '-') \
    || ';' || coalesce(length(request_id) || ':' || request_id, '-') \
    || coalesce(';' || length(policy) || ':' || policy, '')";

pub type AuditLinkRow = (i64, Vec<u8>, Vec<u8>, String);

pub fn audit_link(row: AuditLinkRow) -> Result<crate::AuditLink, StoreError> {
    let (seq, prev_hash, entry_hash, canonical) = row;
    Ok(crate::AuditLink {
        seq: u64::try_from(seq).map_err(|_| corrupt("audit"))?,
        prev_hash: hash(prev_hash, "audit")?,
        hash: hash(entry_hash, "audit")?,
        canonical,
    })
}

pub fn audit_columns(event: &AuditEvent) -> AuditColumns {
    let (actor_kind, actor_id, actor_roles) = match &event.actor {
        Actor::User { id, roles } => (
            "user",
            Some(id.to_string()),
            Some(
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ),
        Actor::Client { id } => ("client", Some(id.clone()), None),
        Actor::Anonymous => ("anonymous", None, None),
        Actor::System => ("system", None, None),
    };
    AuditColumns {
        at: event.at.0,
        actor_kind,
        actor_id,
        actor_roles,
        action: event.action.code(),
        outcome: event.outcome.code(),
        resource_kind: event.resource.as_ref().map(|r| r.kind.clone()),
        resource_id: event.resource.as_ref().map(|r| r.id.clone()),
        patient_id: event.patient.as_ref().map(|s| s.0.clone()),
        purpose: event.purpose.map(PurposeOfUse::code),
        session_id: event.session.map(|s| s.to_string()),
        source_ip: event.source_ip.clone(),
        request_id: event.request_id.clone(),
        policy: event.policy.clone(),
    }
}

pub fn hash(bytes: Vec<u8>, what: &'static str) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt(what))
}

pub fn audit_entry(row: AuditRow) -> Result<ChainedEntry, StoreError> {
    let AuditRow {
        seq,
        prev_hash,
        hash: entry_hash,
        at,
        actor_kind: kind,
        actor_id,
        actor_roles,
        action,
        outcome,
        resource_kind: rkind,
        resource_id: rid,
        patient_id: patient,
        purpose,
        session_id: session,
        source_ip: ip,
        request_id,
        policy,
    } = row;
    let actor = match (kind.as_str(), actor_id) {
        ("user", Some(id)) => Actor::User {
            id: parse(&id, "audit")?,
            roles: actor_roles
                .unwrap_or_default()
                .split_whitespace()
                .map(|r| parse(r, "audit"))
                .collect::<Result<_, _>>()?,
        },
        ("client", Some(id)) => Actor::Client { id },
        ("anonymous", None) => Actor::Anonymous,
        ("system", None) => Actor::System,
        _ => return Err(corrupt("audit")),
    };
    let resource = match (rkind, rid) {
        (Some(kind), Some(id)) => Some(AuditedResource { kind, id }),
        (None, None) => None,
        _ => return Err(corrupt("audit")),
    };
    let event = AuditEvent {
        at: UnixMillis(at),
        actor,
        action: AuditAction::from_code(&action).ok_or_else(|| corrupt("audit"))?,
        outcome: Outcome::from_code(&outcome).ok_or_else(|| corrupt("audit"))?,
        resource,
        patient: patient.map(medvault_domain::AuditSubject),
        purpose: purpose
            .map(|p| PurposeOfUse::from_code(&p).ok_or_else(|| corrupt("audit")))
            .transpose()?,
        session: parse_opt(session, "audit")?,
        source_ip: ip,
        request_id,
        policy,
    };
    Ok(ChainedEntry {
        seq: u64::try_from(seq).map_err(|_| corrupt("audit"))?,
        prev_hash: hash(prev_hash, "audit")?,
        hash: hash(entry_hash, "audit")?,
        event,
    })
}

pub const CHECKPOINT_COLUMNS: &str = "seq, head_hash, at, key_id, signature";

pub type CheckpointRow = (i64, Vec<u8>, i64, String, Vec<u8>);

pub fn checkpoint(row: CheckpointRow) -> Result<AuditCheckpoint, StoreError> {
    let (seq, head_hash, at, key_id, signature) = row;
    Ok(AuditCheckpoint {
        seq: u64::try_from(seq).map_err(|_| corrupt("checkpoint"))?,
        head_hash: hash(head_hash, "checkpoint")?,
        at: UnixMillis(at),
        key_id,
        signature,
    })
}

pub type KeyShareRow = (String, Vec<u8>, String, i64);

pub fn key_share(row: KeyShareRow) -> Result<crate::KeyShareRecord, StoreError> {
    let (patient, share, subject, created_at) = row;
    Ok(crate::KeyShareRecord {
        patient: parse(&patient, "key share")?,
        share: zeroize::Zeroizing::new(share),
        subject,
        created_at: UnixMillis(created_at),
    })
}

pub type LegalHoldRow = (String, String, String, i64);

pub fn legal_hold(row: LegalHoldRow) -> Result<crate::LegalHold, StoreError> {
    let (patient, reason, placed_by, placed_at) = row;
    Ok(crate::LegalHold {
        patient: parse(&patient, "legal hold")?,
        reason,
        placed_by: parse(&placed_by, "legal hold")?,
        placed_at: UnixMillis(placed_at),
    })
}

pub type WebAuthnRow = (String, String, String, String, i64, Option<i64>);

pub fn webauthn(row: WebAuthnRow) -> Result<crate::WebAuthnCredential, StoreError> {
    let (id, user_id, nickname, passkey, created_at, last_used_at) = row;
    Ok(crate::WebAuthnCredential {
        id,
        user_id: parse(&user_id, "webauthn credential")?,
        nickname,
        passkey,
        created_at: UnixMillis(created_at),
        last_used_at: last_used_at.map(UnixMillis),
    })
}

pub const OAUTH_CLIENT_COLUMNS: &str = "client_id, client_name, secret_hash, \
     token_endpoint_auth_method, grant_types, redirect_uris, scope, jwks, created_at, \
     id_token_signed_response_alg, jwks_uri";

pub type OAuthClientRow = (
    String,
    String,
    Option<Vec<u8>>,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    Option<String>,
);

pub fn oauth_client(row: OAuthClientRow) -> Result<crate::OAuthClient, StoreError> {
    let (
        client_id,
        client_name,
        secret,
        method,
        grants,
        uris,
        scope,
        jwks,
        created_at,
        id_alg,
        jwks_uri,
    ) = row;
    let words = |s: String| s.split_whitespace().map(str::to_owned).collect();
    Ok(crate::OAuthClient {
        client_id,
        client_name,
        secret_digest: secret.map(|d| hash(d, "oauth client")).transpose()?,
        token_endpoint_auth_method: method,
        grant_types: words(grants),
        redirect_uris: words(uris),
        scope,
        jwks,
        jwks_uri,
        id_token_signed_response_alg: id_alg,
        created_at: UnixMillis(created_at),
    })
}

/// A non-negative integer column as `u64`.
pub fn count(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(what))
}

pub fn policy_set(row: (i64, String, i64, String)) -> Result<crate::PolicySetRecord, StoreError> {
    let (version, text, created_at, created_by) = row;
    Ok(crate::PolicySetRecord {
        version: count(version, "policy set")?,
        text,
        created_at: UnixMillis(created_at),
        created_by,
    })
}

pub const BREAK_GLASS_COLUMNS: &str = "id, user_id, patient_id, reason, created_at, expires_at";

pub type BreakGlassRow = (String, String, String, Vec<u8>, i64, i64);

pub fn break_glass(row: BreakGlassRow) -> Result<crate::BreakGlassGrant, StoreError> {
    let (id, user_id, patient, reason_sealed, created_at, expires_at) = row;
    Ok(crate::BreakGlassGrant {
        id,
        user_id: parse(&user_id, "break-glass grant")?,
        patient: parse(&patient, "break-glass grant")?,
        reason_sealed,
        created_at: UnixMillis(created_at),
        expires_at: UnixMillis(expires_at),
    })
}
