//! Audit-trail benchmarks (issue: tamper-evident audit trail). Run with
//! `cargo bench -p medvault-server --bench audit`.
//!
//! 1. Durable chained appends per second on SQLite with many concurrent writers
//!    (group commit); goal >= 20,000/s.
//! 2. `audit verify` over 1,000,000 entries; goal <= 3 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use medvault_crypto::MasterKey;
use medvault_domain::{
    Actor, AuditAction, AuditEvent, AuditSubject, Outcome, Role, SessionId, UserId,
};
use medvault_server::audit::{verify, AuditConfig, AuditTrail};
use medvault_store::Store;
use medvault_store_sqlite::SqliteStore;

const WRITERS: usize = 256;
const TOTAL: usize = 1_000_000;

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        at: medvault_domain::UnixMillis(1_800_000_000_000 + n as i64),
        actor: Actor::User {
            id: UserId::new(),
            roles: vec![Role::Physician],
        },
        action: AuditAction::LoginSuccess,
        outcome: Outcome::Success,
        resource: None,
        patient: Some(AuditSubject(format!("{n:032x}"))),
        purpose: None,
        session: Some(SessionId::new()),
        source_ip: Some("127.0.0.1".into()),
        request_id: Some(format!("bench-{n}")),
        policy: None,
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("medvault.db")).await.expect("open"));
        let master = MasterKey::generate();
        let config = AuditConfig {
            checkpoint_every: 10_000,
            checkpoint_interval: Duration::from_secs(60),
            checkpoint_file: dir.path().join("audit-checkpoints.jsonl"),
        };
        let trail = Arc::new(AuditTrail::start(store.clone(), &master, config).await.expect("trail"));

        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let trail = trail.clone();
                tokio::spawn(async move {
                    for i in 0..TOTAL / WRITERS {
                        trail.append(event(w * TOTAL + i)).await.expect("append");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("writer");
        }
        let appended = TOTAL / WRITERS * WRITERS;
        let elapsed = started.elapsed();
        println!(
            "chained durable appends (SQLite, synchronous=FULL, {WRITERS} writers): {:.0}/s ({appended} in {:.1} s)",
            appended as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        trail.close().await;

        let key = medvault_server::audit::checkpoints::load_key(store.as_ref(), &master)
            .await
            .expect("key")
            .expect("a key exists");
        let file = medvault_server::audit::checkpoints::read_file(&dir.path().join("audit-checkpoints.jsonl")).expect("file");
        // Where verification spends its time: reading rows, then hashing them.
        let started = Instant::now();
        let mut entries = Vec::with_capacity(TOTAL);
        let mut from = 1;
        loop {
            let page = store.audit_links(from, 10_000).await.expect("read");
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            entries.extend(page);
        }
        let read = started.elapsed();
        let started = Instant::now();
        for entry in &entries {
            std::hint::black_box(medvault_crypto::audit_chain::entry_hash(entry.seq, &entry.prev_hash, entry.canonical.as_bytes()));
        }
        println!("  reading {} entries: {:.2} s; hashing them: {:.2} s", entries.len(), read.as_secs_f64(), started.elapsed().as_secs_f64());
        drop(entries);

        let started = Instant::now();
        let outcome = verify::verify(store.clone(), &key.public_key(), file, 1, "6y".parse().expect("retention")).await.expect("verify");
        let elapsed = started.elapsed();
        let intact = outcome.expect("the trail is intact");
        println!(
            "audit verify over {} entries and {} checkpoints: {:.2} s",
            intact.entries,
            intact.checkpoints,
            elapsed.as_secs_f64()
        );
        store.close().await;
    });
}
