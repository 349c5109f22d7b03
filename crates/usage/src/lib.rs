//! Usage data and open data (DATA-1 to DATA-4): the services' usage events,
//! counted without tracking people; daily aggregates and the dashboards
//! shared with each commune; and what leaves the platform as open data,
//! with small counts hidden.

pub mod domain;
mod error;
pub mod http;
pub mod store;

pub use error::Error;

/// The area's daily job (DATA-2, ID-4), for the job runner.
pub fn daily_job(
    db: kernel::Db,
    _today: time::Date,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        let now = kernel::clock::now_ms();
        if let Some((salts, events)) = store::daily(&db, now).await? {
            let subjects = store::forget_withdrawn(&db, now).await?;
            tracing::info!(salts, events, subjects, "usage daily job done");
        }
        Ok(())
    })
}
