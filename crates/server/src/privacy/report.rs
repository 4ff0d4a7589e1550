//! `medvault privacy report`: the record of processing activities (GDPR Art. 30), written
//! from the live configuration (the same flags and `MEDVAULT_*` variables `serve` reads)
//! and from the database itself.

use std::collections::BTreeMap;
use std::fmt::Write;

use medvault_domain::{Role, UserStatus};
use medvault_store::{Store, StoreError, UserFilter};

use crate::cli::ServeArgs;

/// Facts read from the database for the report.
#[derive(Debug, Default)]
pub struct Facts {
    pub backend: &'static str,
    pub master_key: String,
    pub users_by_role: BTreeMap<&'static str, u64>,
    pub disabled_users: u64,
    pub audit_entries: u64,
    pub checkpoints: usize,
    /// Registered OAuth clients: (name, grant types, scope).
    pub clients: Vec<(String, String, String)>,
}

pub async fn facts(store: &dyn Store, master_key: String) -> Result<Facts, StoreError> {
    let mut facts = Facts {
        backend: store.backend(),
        master_key,
        ..Facts::default()
    };
    let mut after = None;
    loop {
        let page = store
            .list_users(&UserFilter::default(), after.as_ref(), 500)
            .await?;
        for user in &page {
            if user.status == UserStatus::Disabled {
                facts.disabled_users += 1;
            }
            for role in user.roles.iter() {
                *facts.users_by_role.entry(role.as_str()).or_default() += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.email.clone()),
            _ => break,
        }
    }
    facts.audit_entries = store.audit_head().await?.0;
    facts.checkpoints = store.audit_checkpoints().await?.len();
    facts.clients = store
        .oauth_clients()
        .await?
        .into_iter()
        .map(|c| (c.client_name, c.grant_types.join(", "), c.scope))
        .collect();
    Ok(facts)
}

/// The report, as Markdown.
pub fn render(
    args: &ServeArgs,
    audit_retention: &str,
    rules: &[super::retention::RetentionRule],
    breach_table: bool,
    facts: &Facts,
) -> String {
    let mut out = String::new();
    let w = &mut out;
    // Writing to a String cannot fail.
    let _ = writeln!(
        w,
        "# Record of processing activities (GDPR Art. 30): medvault\n"
    );
    let _ = writeln!(
        w,
        "Generated {} from the {} database sealed to {}.\n",
        crate::fhir::resource::instant(crate::clock::now()),
        facts.backend,
        facts.master_key
    );
    let _ = writeln!(w, "## Data subjects\n");
    let roles: Vec<String> = Role::ALL
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                facts.users_by_role.get(r.as_str()).copied().unwrap_or(0),
                r.as_str()
            )
        })
        .collect();
    let _ = writeln!(
        w,
        "- Accounts by role: {}; {} disabled.",
        roles.join(", "),
        facts.disabled_users
    );
    let _ = writeln!(
        w,
        "- Patients' health records, in each patient's own compartment.\n"
    );
    let _ = writeln!(w, "## Categories, purposes and retention\n");
    for c in super::categories::categories(
        args.session_idle_secs,
        args.session_absolute_secs,
        audit_retention,
    ) {
        let _ = writeln!(
            w,
            "- **{}** ({}): for {}; kept {}.",
            c.category, c.data, c.purpose, c.retention
        );
    }
    let rules: Vec<String> = rules.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        w,
        "- **Retention of health records** (Art. 5(1)(e)): {}.",
        if rules.is_empty() {
            "kept until erased; no rules configured (--retain)".to_owned()
        } else {
            format!(
                "{}; purged hourly, audited, never under a legal hold",
                rules.join("; ")
            )
        }
    );
    let never: Vec<String> = args.never_store.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        w,
        "- **Never stored** (data minimisation, Art. 5(1)(c)): {}.",
        if never.is_empty() {
            "nothing configured (--never-store)".to_owned()
        } else {
            format!("{}, stripped from every resource written", never.join(", "))
        }
    );
    let _ = writeln!(w, "\n## Recipients\n");
    if facts.clients.is_empty() {
        let _ = writeln!(w, "- OAuth clients: none registered.");
    }
    for (name, grants, scope) in &facts.clients {
        let _ = writeln!(
            w,
            "- OAuth client **{name}** ({grants}) may receive: {}.",
            if scope.is_empty() {
                "no record scopes"
            } else {
                scope
            }
        );
    }
    match &args.security_webhook_url {
        Some(url) => {
            let _ = writeln!(w, "- Security events (account ids, addresses, codes; no health data) go to the webhook {url}.");
        }
        None => {
            let _ = writeln!(w, "- No security webhook is configured.");
        }
    }
    match &args.password.breach_api_url {
        Some(url) => {
            let _ = writeln!(w, "- The breached-password service {url} receives the first 5 hex characters of a password's SHA-1 (k-anonymity), nothing else.");
        }
        None => {
            let _ = writeln!(w, "- No remote breached-password service is configured.");
        }
    }
    let _ = writeln!(w, "\n## Security measures (Art. 32)\n");
    let _ = writeln!(w, "- Health records: AES-256-GCM under a key per patient, wrapped by the master key; search through keyed blind indexes; erasure by destroying the patient's key share, kept in a key vault apart from the records, so it reaches every backup.");
    let _ = writeln!(w, "- Passwords: Argon2id (m={} KiB, t={}, p={}); refused when weak (zxcvbn ≥ {}) or breached ({}).", args.password.argon2_memory_kib, args.password.argon2_iterations, args.password.argon2_parallelism, args.password.password_min_score, if breach_table { "imported Pwned Passwords table and built-in list" } else { "built-in list; no table imported" });
    let required: Vec<&str> = args
        .mfa_required_roles
        .0
        .iter()
        .map(|r| r.as_str())
        .collect();
    let _ = writeln!(
        w,
        "- Second factors required for: {}; sensitive operations need one within {} s.",
        if required.is_empty() {
            "no role".to_owned()
        } else {
            required.join(", ")
        },
        args.step_up_secs
    );
    let _ = writeln!(w, "- Sessions end after {} s idle and {} s at most; access tokens live {} s; sign-out revokes at once.", args.session_idle_secs, args.session_absolute_secs, args.access_token_ttl_secs);
    let _ = writeln!(w, "- Audit trail: {} hash-chained entries, {} signed checkpoints; every access to a record is recorded before it is decrypted.", facts.audit_entries, facts.checkpoints);
    let _ = writeln!(
        w,
        "- Transport: {}.",
        if args.tls_cert.is_some() {
            "TLS (rustls)"
        } else {
            "plain HTTP, allowed only on loopback; configure --tls-cert and --tls-key for a network"
        }
    );
    out
}
