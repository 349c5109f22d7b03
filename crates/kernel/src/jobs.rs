//! The job runner: background work of a node (outbox delivery now; scheduled
//! jobs of later areas join here). Stops cleanly when the token is cancelled:
//! a delivery in progress finishes, nothing new starts.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::outbox::{self, Deliverer};

const BATCH: i64 = 20;
const IDLE_POLL: Duration = Duration::from_millis(500);

pub async fn run_outbox(deliverer: Deliverer, stop: CancellationToken) {
    tracing::info!(node = %deliverer.node, "outbox runner started");
    loop {
        let leased = match deliverer.run_once(BATCH).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "outbox pass failed");
                0
            }
        };
        if let Ok(depth) = outbox::pending_count(&deliverer.db).await {
            metrics::gauge!("mutualis_job_queue_depth", "queue" => "outbox").set(depth as f64);
        }
        if leased as i64 == BATCH {
            if stop.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
    }
    tracing::info!("outbox runner stopped");
}
