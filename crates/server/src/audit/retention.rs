//! Retention: entries older than the retention period (6 years by default, the HIPAA
//! documentation retention of §164.316(b)(2)) are pruned at a signed checkpoint, which stays
//! as the anchor the rest of the chain verifies from.

use std::time::Duration;

use medvault_domain::UnixMillis;
use medvault_store::{Store, StoreError};

/// How long audit entries are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Duration);

impl Retention {
    pub const DEFAULT: &'static str = "6y";

    /// The moment before which entries may go.
    pub fn cutoff(self, now: UnixMillis) -> UnixMillis {
        now.plus_secs(-i64::try_from(self.0.as_secs()).unwrap_or(i64::MAX))
    }
}

impl std::str::FromStr for Retention {
    type Err = String;

    /// `<number><unit>` with unit `s`, `m`, `h`, `d` or `y` (365 days): `6y`, `30d`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || format!("{s:?} is not a duration like 6y, 90d or 12h");
        let split = s.len().checked_sub(1).ok_or_else(error)?;
        let (number, unit) = s.split_at(split);
        let number: u64 = number.parse().map_err(|_| error())?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "y" => 365 * 86_400,
            _ => return Err(error()),
        };
        Ok(Self(Duration::from_secs(
            number.checked_mul(seconds).ok_or_else(error)?,
        )))
    }
}

/// Prunes through the newest checkpoint signed before the cutoff. Every entry it covers
/// was appended before it was signed, so none of them is younger than the cutoff.
/// Returns `(entries deleted, anchor sequence)`, or `None` when nothing is due.
pub async fn prune(
    store: &dyn Store,
    retention: Retention,
    now: UnixMillis,
) -> Result<Option<(u64, u64)>, StoreError> {
    let cutoff = retention.cutoff(now);
    let Some(anchor) = store
        .audit_checkpoints()
        .await?
        .into_iter()
        .rfind(|cp| cp.at < cutoff)
    else {
        return Ok(None);
    };
    let first = store.audit_links(1, 1).await?.first().map(|link| link.seq);
    if first.is_none_or(|first| first > anchor.seq) {
        return Ok(None);
    }
    let deleted = store.prune_audit_entries(anchor.seq).await?;
    Ok(Some((deleted, anchor.seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_human_units() {
        assert_eq!(
            "6y".parse::<Retention>().unwrap().0,
            Duration::from_secs(6 * 365 * 86_400)
        );
        assert_eq!(
            "90s".parse::<Retention>().unwrap().0,
            Duration::from_secs(90)
        );
        for bad in ["", "y", "6", "6w", "-1d", "1.5d"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
    }
}
