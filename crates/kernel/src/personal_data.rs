//! ID-8 across areas: each area that keeps personal data about an account
//! registers how to export it and how to erase it when the account is
//! deleted; the identity area's export and deletion go through every part
//! registered. A registry rather than a dependency: the areas that keep
//! such data depend on the identity area, not the reverse.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::{Db, Tx};

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'a>>;

/// An area's share of an account's personal data.
#[derive(Clone, Copy)]
pub struct Part {
    /// Its key in the export (e.g. `help_requests`).
    pub name: &'static str,
    /// What the area holds about the account, as JSON.
    pub export: fn(Db, i64) -> Boxed<'static, serde_json::Value>,
    /// Erases or pseudonymises it, in the deletion's transaction.
    pub erase: for<'a> fn(&'a mut Tx, i64) -> Boxed<'a, ()>,
    /// Told, in the transaction that records it, that the account's consent
    /// to a service changed (ID-4: given, changed, withdrawn, expired): what
    /// the area keeps under that consent must follow it at once.
    pub consent_changed: for<'a> fn(&'a mut Tx, &'a ConsentChange) -> Boxed<'a, ()>,
}

/// An account's consent to a service, as it stands after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentChange {
    pub account_id: i64,
    pub client_id: String,
    /// The subjects that service knows the account by.
    pub subjects: Vec<String>,
    /// What is granted now: nothing once withdrawn or expired.
    pub granted: Vec<String>,
}

/// For the parts that keep nothing under a consent.
pub fn ignore_consent<'a>(_: &'a mut Tx, _: &'a ConsentChange) -> Boxed<'a, ()> {
    Box::pin(async { Ok(()) })
}

static PARTS: Mutex<Vec<Part>> = Mutex::new(Vec::new());

/// Registers a part (once per name; registering again changes nothing).
pub fn register(part: Part) {
    let mut parts = PARTS.lock().expect("registry lock");
    if !parts.iter().any(|p| p.name == part.name) {
        parts.push(part);
    }
}

/// The parts registered, in registration order.
pub fn parts() -> Vec<Part> {
    PARTS.lock().expect("registry lock").clone()
}
