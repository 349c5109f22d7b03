//! The job runner: background work of a node (outbox delivery now; scheduled
//! jobs of later areas join here). Stops cleanly when the token is cancelled:
//! a delivery in progress finishes, nothing new starts.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::outbox::{self, Deliverer};

const BATCH: i64 = 20;
const IDLE_POLL: Duration = Duration::from_millis(500);
const DEPTH_EVERY: Duration = Duration::from_secs(1);

pub async fn run_outbox(deliverer: Deliverer, stop: CancellationToken) {
    tracing::info!(node = %deliverer.node, "outbox runner started");
    let mut depth_read_at: Option<Instant> = None;
    loop {
        let leased = match deliverer.run_once(BATCH).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "outbox pass failed");
                0
            }
        };
        // The queue's depth is a count of the pending messages: once a
        // second at most, not after every pass (with a backlog, counting it
        // after each batch of 20 cost more than delivering, bench/assistance).
        if depth_read_at.is_none_or(|at| at.elapsed() >= DEPTH_EVERY) {
            depth_read_at = Some(Instant::now());
            if let Ok(depth) = outbox::pending_count(&deliverer.db).await {
                metrics::gauge!("mutualis_job_queue_depth", "queue" => "outbox").set(depth as f64);
            }
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

/// A job run once a day across all nodes: its name, and what it does for a
/// given day. The function claims the day with [`claim_day`] inside its own
/// transaction, so that the claim and the work commit together.
pub type DailyJob = (
    &'static str,
    fn(
        crate::Db,
        time::Date,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>>,
);

/// OPS-5: claims `(job, day)`; true for the one node that gets it. A
/// transaction that rolls back releases the claim.
pub async fn claim_day(
    tx: &mut crate::Tx,
    job: &str,
    day: time::Date,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("INSERT INTO scheduled_runs (job, day, ran_at) VALUES ($1, $2, $3) ON CONFLICT (job, day) DO NOTHING")
        .bind(job)
        .bind(day.to_string())
        .bind(crate::clock::now_ms())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

const DAILY_POLL: Duration = Duration::from_secs(60);

/// Tries every daily job at start and then every minute; a job that already
/// ran today (here or on another node) does nothing.
pub async fn run_daily(db: crate::Db, jobs: Vec<DailyJob>, stop: CancellationToken) {
    loop {
        let today = crate::clock::today();
        for (name, job) in &jobs {
            if let Err(e) = job(db.clone(), today).await {
                tracing::error!(job = name, error = %format!("{e:#}"), "daily job failed; retried in a minute");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(DAILY_POLL) => {}
        }
    }
}
