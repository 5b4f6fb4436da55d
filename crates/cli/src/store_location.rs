//! Where the commands of this process find the store's database: `--store` (or the
//! `DTFHE_STORE` environment variable), `sqlite` by default (`<dir>/store.sqlite`), or a
//! PostgreSQL URL. The key files (`store.key`, `store.pub`) and the trustee and source
//! directories stay in the deployment directory either way.

use std::path::Path;
use std::sync::RwLock;

use dtfhe_store::{Store, StoreError, StoreLocation};

static LOCATION: RwLock<StoreLocation> = RwLock::new(StoreLocation::Sqlite);

/// Sets the store location every later store access of this process uses (`main` does it
/// once from `--store`).
pub fn set_store_location(location: StoreLocation) {
    match LOCATION.write() {
        Ok(mut l) => *l = location,
        Err(poisoned) => *poisoned.into_inner() = location,
    }
}

/// The store location in force.
pub fn store_location() -> StoreLocation {
    match LOCATION.read() {
        Ok(l) => l.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Opens the store of deployment directory `dir` at the location in force.
pub fn open_store(dir: &Path) -> Result<Store, StoreError> {
    Store::open_at(dir, &store_location())
}

/// Creates the store of deployment directory `dir` at the location in force.
pub fn create_store(dir: &Path) -> Result<Store, StoreError> {
    Store::create_at(dir, &store_location())
}
