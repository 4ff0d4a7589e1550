//! The policy set in force: read from the store at start, replaced only by a set that
//! validates (the old one stays live otherwise), and followed across a fleet.

use std::sync::Arc;
use std::time::Duration;

use medvault_domain::{AuditEvent, UnixMillis};
use medvault_store::{Store, StoreError};

use super::engine::{Engine, PolicyProblem};
use crate::audit::AuditTrail;

/// How often an instance looks for a set another instance loaded.
const REFRESH_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The set does not parse or validate; nothing changed.
    #[error("the policy set was refused")]
    Invalid(Vec<PolicyProblem>),
    /// Another set was loaded since the one the caller replaces.
    #[error("the policy set changed since version {0}; read it and try again")]
    Stale(u64),
    #[error("the audit trail is unavailable; the policy set was not changed")]
    Audit,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An engine enforcing the newest stored set, or the default set when none was loaded.
/// A stored set that no longer validates stops the start: enforcing anything else than
/// what an admin loaded could grant more than they meant.
pub async fn open(store: &dyn Store) -> Result<Arc<Engine>, String> {
    let engine = Arc::new(Engine::new());
    if let Some(stored) = store.policy_set().await.map_err(|e| e.to_string())? {
        let set = engine.check(&stored.text).map_err(|problems| {
            let first = problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default();
            format!(
                "the access policy set in force (version {}) does not validate: {first}; \
                 load a corrected set with `medvault policy load`",
                stored.version
            )
        })?;
        engine.install(stored.version, stored.text, set);
    }
    Ok(engine)
}

/// Validates `text`, audits the change (fail closed), stores it as the next version and
/// puts it in force. `replaces` guards against overwriting a set the caller has not seen.
pub async fn replace(
    engine: &Engine,
    store: &dyn Store,
    trail: &AuditTrail,
    text: String,
    replaces: Option<u64>,
    by: &str,
    event: AuditEvent,
) -> Result<u64, ReplaceError> {
    let set = engine.check(&text).map_err(ReplaceError::Invalid)?;
    let newest = store.policy_version().await?;
    if replaces.is_some_and(|r| r != newest) {
        return Err(ReplaceError::Stale(newest));
    }
    let event = crate::audit::about(event, "PolicySet", newest + 1);
    trail.append(event).await.map_err(|_| ReplaceError::Audit)?;
    let at: UnixMillis = crate::clock::now();
    let version = match store.insert_policy_set(newest, &text, at, by).await {
        Ok(version) => version,
        Err(StoreError::Conflict) => return Err(ReplaceError::Stale(newest)),
        Err(err) => return Err(err.into()),
    };
    engine.install(version, text, set);
    Ok(version)
}

/// `medvault policy show|check|load`.
pub async fn cli(
    operator: &crate::storage::Operator,
    command: &crate::cli::PolicyCommand,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    use crate::cli::PolicyCommand;
    let store = operator.store.as_ref();
    let engine = open(store).await?;
    let read = |file: &std::path::Path| {
        std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    match command {
        PolicyCommand::Show { schema: true } => Ok(super::engine::SCHEMA.to_owned()),
        PolicyCommand::Show { schema: false } => {
            let current = engine.current();
            Ok(format!("// version {}\n{}", current.version, current.text))
        }
        PolicyCommand::Check { file } => {
            let text = read(file)?;
            match engine.check(&text) {
                Ok(set) => Ok(format!(
                    "{}: {} policies, valid",
                    file.display(),
                    set.policies().count()
                )),
                Err(problems) => Err(report(file, &problems).into()),
            }
        }
        PolicyCommand::Load { file } => {
            let text = read(file)?;
            let event = crate::audit::system_event(medvault_domain::AuditAction::PolicyLoad, None);
            match replace(
                &engine,
                store,
                &operator.trail,
                text,
                None,
                "operator",
                event,
            )
            .await
            {
                Ok(version) => Ok(format!("policy set version {version} is in force")),
                Err(ReplaceError::Invalid(problems)) => Err(report(file, &problems).into()),
                Err(err) => Err(err.into()),
            }
        }
    }
}

/// Problems as `file:line:column: message`, one a line, like a compiler's.
fn report(file: &std::path::Path, problems: &[PolicyProblem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match (p.line, p.column) {
            (Some(line), Some(column)) => {
                format!("{}:{line}:{column}: {}", file.display(), p.message)
            }
            _ => format!("{}: {}", file.display(), p.message),
        })
        .collect();
    format!(
        "the policy set was refused; nothing changed\n{}",
        lines.join("\n")
    )
}

/// Keeps `engine` on the newest stored set (another instance may load one).
pub fn follow(engine: Arc<Engine>, store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        loop {
            tick.tick().await;
            if let Err(err) = refresh(&engine, store.as_ref()).await {
                tracing::warn!(error = %err, "could not look for a newer access policy set");
            }
        }
    });
}

async fn refresh(engine: &Engine, store: &dyn Store) -> Result<(), StoreError> {
    if store.policy_version().await? <= engine.current().version {
        return Ok(());
    }
    let Some(stored) = store.policy_set().await? else {
        return Ok(());
    };
    match engine.check(&stored.text) {
        Ok(set) => engine.install(stored.version, stored.text, set),
        // Every instance validates the same way, so this means a different build.
        Err(_) => tracing::error!(
            version = stored.version,
            "a newer access policy set does not validate here; the old one stays in force"
        ),
    }
    Ok(())
}
