//! `medvault audit verify`: recompute the chain, check every checkpoint signature, and
//! compare the database with the checkpoint file. Names the first bad sequence number and
//! the kind of damage.

use std::collections::BTreeMap;
use std::fmt;

use medvault_crypto::audit_chain::{entry_hash, verify_checkpoint, GENESIS};
use std::sync::Arc;

use medvault_store::{AuditCheckpoint, Store, StoreError};

use super::retention::Retention;

/// Entries read per query: large enough to amortise the round trip, small enough to keep
/// memory flat on a long chain.
const PAGE: u32 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    /// An entry's content (or its link) was changed.
    Modified,
    /// Entries were deleted from the middle.
    Missing,
    /// An entry was slipped in.
    Inserted,
    /// Entries were moved.
    Reordered,
    /// Entries after a signed checkpoint are gone (deleted tail, or a rolled-back database).
    Truncated,
    /// A checkpoint's signature is invalid.
    ForgedCheckpoint,
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Inserted => "inserted",
            Self::Reordered => "reordered",
            Self::Truncated => "truncated after a checkpoint",
            Self::ForgedCheckpoint => "forged checkpoint",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub seq: u64,
    pub kind: DamageKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub first_seq: u64,
    pub last_seq: u64,
    pub entries: u64,
    pub checkpoints: usize,
}

/// An entry reduced to what the chain walk needs, its own hash already checked.
#[derive(Debug, Clone, Copy)]
struct Link {
    seq: u64,
    prev_hash: [u8; 32],
    hash: [u8; 32],
    content_ok: bool,
}

/// Reads entries `from..until` (all of them when `until` is `None`) and checks each entry's
/// content against its hash. Run as two tasks over two halves of the chain, so reading and
/// hashing use every core.
async fn read_links(
    store: Arc<dyn Store>,
    from: u64,
    until: Option<u64>,
) -> Result<Vec<Link>, StoreError> {
    let mut links = Vec::new();
    let mut next = from;
    loop {
        let page = store.audit_links(next, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for entry in page {
            if until.is_some_and(|until| entry.seq >= until) {
                return Ok(links);
            }
            let content_ok =
                entry_hash(entry.seq, &entry.prev_hash, entry.canonical.as_bytes()) == entry.hash;
            links.push(Link {
                seq: entry.seq,
                prev_hash: entry.prev_hash,
                hash: entry.hash,
                content_ok,
            });
            next = entry.seq + 1;
        }
        if !full {
            return Ok(links);
        }
    }
}

/// Verifies entries from `from` on. Checkpoints come from the database and the file; every
/// signature must verify under `public_key`, and every checkpoint must match the chain.
///
/// Entries pruned for retention are accepted only when the chain resumes right after a
/// signed checkpoint older than `retention`: deleting recent entries is damage.
pub async fn verify(
    store: Arc<dyn Store>,
    public_key: &[u8; 32],
    file_checkpoints: Vec<AuditCheckpoint>,
    from: u64,
    retention: Retention,
) -> Result<Result<Intact, Damage>, StoreError> {
    let mut signed = BTreeMap::new();
    for cp in store
        .audit_checkpoints()
        .await?
        .into_iter()
        .chain(file_checkpoints)
    {
        if !verify_checkpoint(public_key, cp.seq, &cp.head_hash, cp.at.0, &cp.signature) {
            let detail = format!(
                "the checkpoint at {} does not carry a valid signature",
                cp.seq
            );
            return Ok(Err(Damage {
                seq: cp.seq,
                kind: DamageKind::ForgedCheckpoint,
                detail,
            }));
        }
        signed.insert(cp.seq, (cp.head_hash, cp.at));
    }
    // Where retention legitimately pruned up to: a checkpoint old enough, right before the
    // first entry that is left. Checkpoints before it cover entries that are gone.
    let cutoff = retention.cutoff(crate::clock::now());
    let first_kept = match store.audit_links(1, 1).await?.first() {
        Some(link) => link.seq,
        // Everything was pruned: the chain resumes after the head.
        None => store.audit_head().await?.0 + 1,
    };
    let pruned_through = first_kept
        .checked_sub(1)
        .filter(|anchor| signed.get(anchor).is_some_and(|(_, at)| *at < cutoff))
        .unwrap_or(0);
    let checkpoints: BTreeMap<u64, [u8; 32]> = signed
        .into_iter()
        .filter(|(seq, _)| *seq >= pruned_through)
        .map(|(seq, (hash, _))| (seq, hash))
        .collect();

    // Start from the newest checkpoint before `from`: its signed hash anchors the chain.
    let (mut last_seq, mut prev) = checkpoints
        .range(..from.max(pruned_through + 1))
        .next_back()
        .map_or((0, GENESIS), |(seq, hash)| (*seq, *hash));
    let first_seq = last_seq + 1;

    // The head only decides where to split the work; it is not trusted for anything else.
    let (head, _) = store.audit_head().await?;
    let middle = first_seq + head.saturating_sub(first_seq) / 2;
    let front = tokio::spawn(read_links(store.clone(), first_seq, Some(middle)));
    let back = tokio::spawn(read_links(store.clone(), middle, None));
    let join = |r: Result<Result<Vec<Link>, StoreError>, tokio::task::JoinError>| {
        r.map_err(|e| StoreError::Backend(Box::new(e)))?
    };
    let mut links = join(front.await)?;
    links.extend(join(back.await)?);

    let mut before_prev: Option<[u8; 32]> = None;
    let mut good_checkpoint = last_seq;
    for link in &links {
        if let Some(damage) = check_link(store.as_ref(), link, last_seq, &prev, before_prev).await?
        {
            return Ok(Err(damage));
        }
        if let Some(signed) = checkpoints.get(&link.seq) {
            if *signed != link.hash {
                let detail = format!(
                    "entries {}..={} were rewritten: the chain no longer matches the checkpoint signed at {}",
                    good_checkpoint + 1,
                    link.seq,
                    link.seq
                );
                return Ok(Err(Damage {
                    seq: good_checkpoint + 1,
                    kind: DamageKind::Modified,
                    detail,
                }));
            }
            good_checkpoint = link.seq;
        }
        before_prev = Some(prev);
        prev = link.hash;
        last_seq = link.seq;
    }
    if let Some((&signed_seq, _)) = checkpoints.iter().next_back() {
        if signed_seq > last_seq {
            let detail =
                format!("the chain ends at {last_seq} but a checkpoint was signed at {signed_seq}");
            return Ok(Err(Damage {
                seq: last_seq + 1,
                kind: DamageKind::Truncated,
                detail,
            }));
        }
    }
    Ok(Ok(Intact {
        first_seq,
        last_seq,
        entries: last_seq + 1 - first_seq,
        checkpoints: checkpoints.len(),
    }))
}

/// Checks one entry against its predecessor; classifies the first break it finds.
async fn check_link(
    store: &dyn Store,
    entry: &Link,
    last_seq: u64,
    prev: &[u8; 32],
    before_prev: Option<[u8; 32]>,
) -> Result<Option<Damage>, StoreError> {
    let expected = last_seq + 1;
    let damage = |seq, kind, detail: String| Ok(Some(Damage { seq, kind, detail }));
    if entry.seq != expected {
        return damage(
            expected,
            DamageKind::Missing,
            format!("entries {expected}..{} are absent", entry.seq),
        );
    }
    if entry.prev_hash != *prev {
        // Two entries claiming the same predecessor: the one before this was slipped in.
        if before_prev == Some(entry.prev_hash) {
            return damage(
                last_seq,
                DamageKind::Inserted,
                format!("entry {last_seq} is not part of the chain"),
            );
        }
        // The predecessor this entry names sits later in the table: entries were moved.
        if hash_appears_after(store, entry.seq, &entry.prev_hash).await? {
            return damage(
                entry.seq,
                DamageKind::Reordered,
                format!("entry {} is out of place", entry.seq),
            );
        }
        return damage(
            entry.seq,
            DamageKind::Modified,
            format!("entry {} does not link to {last_seq}", entry.seq),
        );
    }
    if !entry.content_ok {
        return damage(
            entry.seq,
            DamageKind::Modified,
            format!("entry {}'s content does not match its hash", entry.seq),
        );
    }
    Ok(None)
}

async fn hash_appears_after(
    store: &dyn Store,
    seq: u64,
    hash: &[u8; 32],
) -> Result<bool, StoreError> {
    let mut from = seq + 1;
    loop {
        let page = store.audit_links(from, PAGE).await?;
        if page.iter().any(|e| e.hash == *hash) {
            return Ok(true);
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => from = last.seq + 1,
            _ => return Ok(false),
        }
    }
}
