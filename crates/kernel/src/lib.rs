//! What every business area shares: database and migrations, clock, random
//! secrets, passwords, audit journal (OPS-3), outbox and jobs (OPS-5), mail,
//! and the web layer (layout, CSRF, headers, errors, authorisation types).

pub mod audit;
pub mod clock;
pub mod db;
pub mod jobs;
pub mod mail;
pub mod outbox;
pub mod password;
pub mod personal_data;
pub mod random;
pub mod secrets;
pub mod state;
pub mod web;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use db::{Backend, Db, Tx};
pub use state::AppState;
