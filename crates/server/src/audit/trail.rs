//! The audit trail's single writer per instance, with group commit: appends that arrive
//! while a transaction is in flight are batched into the next one, so durability (one
//! fsync per transaction) does not cap throughput.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medvault_crypto::audit_chain::entry_hash;
use medvault_crypto::MasterKey;
use medvault_domain::AuditEvent;
use medvault_store::Store;
use tokio::sync::{mpsc, oneshot};

use super::checkpoints::{CheckpointError, CheckpointSigner};

/// How many events one transaction takes at most.
const MAX_BATCH: usize = 1024;

#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Checkpoint after this many new entries...
    pub checkpoint_every: u64,
    /// ...or when entries are this old without a checkpoint.
    pub checkpoint_interval: Duration,
    pub checkpoint_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("the audit trail could not record the event")]
pub struct AuditUnavailable;

enum Message {
    // Boxed: an event is large next to a bare reply channel.
    Append(
        Box<AuditEvent>,
        oneshot::Sender<Result<u64, AuditUnavailable>>,
    ),
    Close(oneshot::Sender<()>),
}

#[derive(Debug)]
pub struct AuditTrail {
    sender: mpsc::Sender<Message>,
    public_key: [u8; 32],
    key_id: String,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Append(..) => "Append",
            Self::Close(_) => "Close",
        })
    }
}

impl AuditTrail {
    pub async fn start(
        store: Arc<dyn Store>,
        master: &MasterKey,
        config: AuditConfig,
    ) -> Result<Self, CheckpointError> {
        let signer =
            CheckpointSigner::load(store.as_ref(), master, config.checkpoint_file.clone()).await?;
        let public_key = signer.key().public_key();
        let key_id = signer.key().id().to_owned();
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 4);
        let last_seq = match store.audit_checkpoints().await {
            Ok(checkpoints) => checkpoints.last().map_or(0, |cp| cp.seq),
            Err(err) => return Err(err.into()),
        };
        let writer = Writer {
            store,
            signer,
            config,
            last_checkpoint: (last_seq, Instant::now()),
        };
        tokio::spawn(writer.run(receiver));
        Ok(Self {
            sender,
            public_key,
            key_id,
        })
    }

    /// Appends one event; returns its sequence number once it is durable.
    pub async fn append(&self, event: AuditEvent) -> Result<u64, AuditUnavailable> {
        let (reply, done) = oneshot::channel();
        self.sender
            .send(Message::Append(Box::new(event), reply))
            .await
            .map_err(|_| AuditUnavailable)?;
        done.await.map_err(|_| AuditUnavailable)?
    }

    /// Appends several events; they usually share one transaction. Returns once all are
    /// durable, or fails if any could not be written.
    pub async fn append_all(&self, events: Vec<AuditEvent>) -> Result<(), AuditUnavailable> {
        let mut replies = Vec::with_capacity(events.len());
        for event in events {
            let (reply, done) = oneshot::channel();
            self.sender
                .send(Message::Append(Box::new(event), reply))
                .await
                .map_err(|_| AuditUnavailable)?;
            replies.push(done);
        }
        for done in replies {
            done.await.map_err(|_| AuditUnavailable)??;
        }
        Ok(())
    }

    /// Flushes pending appends and checkpoints the head; later appends fail.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.sender.send(Message::Close(reply)).await.is_ok() {
            // An error means the writer already stopped, which is what we wanted.
            let _ = done.await;
        }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

struct Writer {
    store: Arc<dyn Store>,
    signer: CheckpointSigner,
    config: AuditConfig,
    /// The last checkpointed sequence and when this writer took or found it.
    last_checkpoint: (u64, Instant),
}

impl Writer {
    async fn run(mut self, mut receiver: mpsc::Receiver<Message>) {
        let mut tick = tokio::time::interval(self.config.checkpoint_interval);
        loop {
            let first = tokio::select! {
                message = receiver.recv() => message,
                _ = tick.tick() => {
                    self.checkpoint_if(|since, age, interval| since > 0 && age >= interval).await;
                    continue;
                }
            };
            let mut batch = Vec::new();
            let mut closing = None;
            match first {
                None => break,
                Some(Message::Close(reply)) => closing = Some(reply),
                Some(Message::Append(event, reply)) => batch.push((*event, reply)),
            }
            while closing.is_none() && batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(Message::Append(event, reply)) => batch.push((*event, reply)),
                    Ok(Message::Close(reply)) => closing = Some(reply),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
            let every = self.config.checkpoint_every;
            self.checkpoint_if(|since, _, _| since >= every).await;
            if let Some(reply) = closing {
                self.checkpoint_if(|since, _, _| since > 0).await;
                let _ = reply.send(());
                break;
            }
        }
    }

    async fn commit(
        &self,
        batch: Vec<(AuditEvent, oneshot::Sender<Result<u64, AuditUnavailable>>)>,
    ) {
        if batch.is_empty() {
            return;
        }
        let (events, replies): (Vec<AuditEvent>, Vec<_>) = batch.into_iter().unzip();
        match self.store.append_audit_events(&events, entry_hash).await {
            Ok(seqs) => {
                for (reply, seq) in replies.into_iter().zip(seqs) {
                    // The requester may have gone away; the event is recorded regardless.
                    let _ = reply.send(Ok(seq));
                }
            }
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), events = events.len(), "audit append failed");
                for reply in replies {
                    let _ = reply.send(Err(AuditUnavailable));
                }
            }
        }
    }

    /// Checkpoints the head when `due(entries since the last checkpoint, its age, interval)`.
    async fn checkpoint_if(&mut self, due: impl Fn(u64, Duration, Duration) -> bool) {
        let (seq, head) = match self.store.audit_head().await {
            Ok(head) => head,
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), "cannot read the audit head");
                return;
            }
        };
        let (last_seq, last_at) = self.last_checkpoint;
        if !due(
            seq.saturating_sub(last_seq),
            last_at.elapsed(),
            self.config.checkpoint_interval,
        ) {
            return;
        }
        match self.signer.checkpoint(self.store.as_ref(), seq, head).await {
            Ok(()) => self.last_checkpoint = (seq, Instant::now()),
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), seq, "audit checkpoint failed")
            }
        }
    }
}
