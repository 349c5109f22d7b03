//! What handlers of every area receive.

use crate::Db;
use crate::password::Hasher;
use crate::web::Site;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub site: Site,
    pub hasher: Hasher,
}
