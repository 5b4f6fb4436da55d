//! Spent nonces of signed API requests: the platform's replay protection, kept in the
//! database so that it survives a restart (issue 16).
//!
//! A request is accepted only within a clock skew of its timestamp, so a nonce older than
//! that can never be replayed successfully; [`Store::spend_nonce`] prunes those as it goes.
//! The table is not ledgered: it records no action, only which nonces are spent.

use super::Store;
use crate::db::{params, SqlContext};
use crate::error::StoreError;

impl Store {
    /// Records that `identity` spent `nonce` in a request stamped `ts` (unix seconds) and
    /// forgets nonces stamped more than `skew` seconds away from `now`. Returns `false` if
    /// the pair was spent before: the request is a replay and must be refused.
    pub fn spend_nonce(
        &mut self,
        identity: &str,
        nonce: &str,
        ts: u64,
        now: u64,
        skew: u64,
    ) -> Result<bool, StoreError> {
        if identity.is_empty() || nonce.is_empty() {
            return Err(StoreError::Invalid(
                "a request nonce needs an identity and a nonce".into(),
            ));
        }
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let (low, high) = (int(now.saturating_sub(skew)), int(now.saturating_add(skew)));
        let path = self.path.clone();
        self.db
            .execute(
                "DELETE FROM request_nonces WHERE ts < ?1 OR ts > ?2",
                params![low, high],
            )
            .ctx(&path, "prune request nonces")?;
        let inserted = self
            .db
            .execute(
                "INSERT INTO request_nonces (identity, nonce, ts) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
                params![identity, nonce, int(ts)],
            )
            .ctx(&path, "record request nonce")?;
        Ok(inserted == 1)
    }

    /// How many spent nonces are kept (for tests and monitoring).
    pub fn nonce_count(&self) -> Result<u64, StoreError> {
        let n = self
            .db
            .query_one("SELECT COUNT(*) FROM request_nonces", params![])
            .and_then(|r| r.i64(0))
            .ctx(&self.path, "count request nonces")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
