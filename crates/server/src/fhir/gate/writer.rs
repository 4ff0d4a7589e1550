//! Group commit for record writes: concurrent requests' batches share one database
//! transaction (each in its own savepoint), so one fsync serves many writes, as the audit
//! trail's writer does for events.

use std::sync::Arc;

use medvault_store::{RecordBatch, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Batches one transaction takes at most.
const MAX_GROUP: usize = 64;

type Reply = oneshot::Sender<Result<(), StoreError>>;

#[derive(Debug)]
pub struct RecordWriter {
    sender: mpsc::Sender<(RecordBatch, Reply)>,
}

impl RecordWriter {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel(MAX_GROUP * 4);
        tokio::spawn(run(store, receiver));
        Self { sender }
    }

    /// Stores `batch` atomically; returns once it is durable.
    pub async fn write(&self, batch: RecordBatch) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the record writer has stopped".into());
        self.sender
            .send((batch, reply))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

async fn run(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<(RecordBatch, Reply)>) {
    while let Some(first) = receiver.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<RecordBatch>, Vec<Reply>) = group.into_iter().unzip();
        match store.write_record_batches(&batches).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    // A requester that gave up no longer needs the answer.
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::error!(error = %crate::error::error_chain(&err), "a record transaction failed");
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Unavailable(
                        "the record transaction failed".into(),
                    )));
                }
            }
        }
    }
}
