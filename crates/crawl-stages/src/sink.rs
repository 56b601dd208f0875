//! The sink stage: documents in, durably written, then acknowledged.

use std::sync::Arc;

use crawl_core::{Counter, Counters, Document};
use crawl_queue::Inbox;
use crawl_store::DocumentSink;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::pool::{self, Disposition};

/// Write documents until the inbox closes or `shutdown`.
pub async fn run(
    sink: Box<dyn DocumentSink>,
    documents: &mut dyn Inbox<Document>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    // One writer: documents are appended in delivery order.
    let sink = Arc::new(Mutex::new(sink));
    let c = counters.clone();
    pool::run(documents, 1, &shutdown, &counters, |doc, _| {
        let sink = sink.clone();
        let counters = c.clone();
        async move {
            match sink.lock().await.write(std::slice::from_ref(&doc)).await {
                Ok(n) => {
                    counters.add(Counter::DocumentsWritten, n as u64);
                    Disposition::Ack
                }
                Err(e) => Disposition::Retry(format!("writing the document: {e}")),
            }
        }
    })
    .await;
}
