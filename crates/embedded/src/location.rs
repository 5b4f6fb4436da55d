//! Where an embedded deployment lives: its directory (key files, trustee and source
//! directories) and its store's database (`--store` or `DTFHE_STORE`: `sqlite` by default,
//! `<dir>/store.sqlite`, or a PostgreSQL URL). Passed to every operation, so two
//! deployments with different stores can be used from one process.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use dtfhe_store::{Store, StoreError, StoreLocation};

/// A deployment directory and the location of its store's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentDir {
    /// The deployment directory: key files, trustee and source directories (and the
    /// SQLite store, if the store is SQLite).
    pub dir: PathBuf,
    /// Where the store's database is.
    pub store: StoreLocation,
}

impl DeploymentDir {
    /// The deployment in `dir` with its store at `store`.
    pub fn new(dir: impl Into<PathBuf>, store: StoreLocation) -> DeploymentDir {
        DeploymentDir {
            dir: dir.into(),
            store,
        }
    }

    /// The deployment in `dir` with its SQLite store in the same directory (the default).
    pub fn sqlite(dir: impl Into<PathBuf>) -> DeploymentDir {
        DeploymentDir::new(dir, StoreLocation::Sqlite)
    }

    /// The deployment directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Opens the store of this deployment.
    pub fn open_store(&self) -> Result<Store, StoreError> {
        Store::open_at(&self.dir, &self.store)
    }

    /// Opens the store of this deployment for reading only (`audit verify` on a read-only
    /// directory).
    pub fn open_store_read_only(&self) -> Result<Store, StoreError> {
        Store::open_read_only(&self.dir, &self.store)
    }

    /// Creates the store of this deployment.
    pub fn create_store(&self) -> Result<Store, StoreError> {
        Store::create_at(&self.dir, &self.store)
    }
}

/// The directory's files are reached through the deployment as through its path.
impl Deref for DeploymentDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.dir
    }
}

impl AsRef<Path> for DeploymentDir {
    fn as_ref(&self) -> &Path {
        &self.dir
    }
}

/// A bare directory: the SQLite store inside it.
impl From<&Path> for DeploymentDir {
    fn from(dir: &Path) -> Self {
        DeploymentDir::sqlite(dir)
    }
}

/// A bare directory: the SQLite store inside it.
impl From<PathBuf> for DeploymentDir {
    fn from(dir: PathBuf) -> Self {
        DeploymentDir::sqlite(dir)
    }
}

/// A bare directory: the SQLite store inside it.
impl From<&PathBuf> for DeploymentDir {
    fn from(dir: &PathBuf) -> Self {
        DeploymentDir::sqlite(dir.as_path())
    }
}

/// So operations taking `impl Into<DeploymentDir>` accept a borrowed deployment.
impl From<&DeploymentDir> for DeploymentDir {
    fn from(d: &DeploymentDir) -> Self {
        d.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_directory_is_sqlite_and_location_is_kept() {
        let d = DeploymentDir::from(Path::new("/tmp/x"));
        assert_eq!(d.store, StoreLocation::Sqlite);
        assert_eq!(d.join("store.key"), Path::new("/tmp/x/store.key"));
        let pg = DeploymentDir::new("/tmp/y", StoreLocation::Postgres("postgres://h/db".into()));
        assert_eq!(DeploymentDir::from(&pg), pg);
        assert_ne!(DeploymentDir::from(&pg).store, StoreLocation::Sqlite);
    }
}
