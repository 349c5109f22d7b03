//! User assistance ("SAU", SPEC.md SAU-1 to SAU-8): help requests from any
//! shared service, routed to the competent body, tracked and answered.

pub mod domain;
mod error;
pub mod http;
pub mod store;

pub use error::Error;

/// The daily job (SAU-3: resolved requests close themselves after 14 days).
pub fn daily_job(
    db: kernel::Db,
    today: time::Date,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        // The job knows no public address: its e-mail names none.
        if let Some(closed) = store::daily(&db, today, "").await? {
            tracing::info!(closed, "assistance daily job done");
        }
        Ok(())
    })
}
