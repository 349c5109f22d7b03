//! What handlers of every area receive.

use crate::Db;
use crate::password::Hasher;
use crate::web::Site;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub site: Site,
    pub hasher: Hasher,
    /// Seals secrets at rest (signing keys).
    pub master_key: crate::secrets::MasterKey,
    /// What an area keeps for its handlers (e.g. the identity area's signing
    /// keys), put there when the node is composed. Shared, not copied: the
    /// state is cloned several times per request, and cloning the map itself
    /// was a fifth of the time of a small request (bench/oidc, perf).
    pub extensions: std::sync::Arc<axum::http::Extensions>,
}
