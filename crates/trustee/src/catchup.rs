//! Catch-up checked against the ledger itself (t-of-n, see `docs/THRESHOLD.md`).
//!
//! A trustee outside a release's set records the release in its disclosure state from the
//! platform's pending list ([`crate::quorum`]). A platform that leaves a release out of that
//! list would keep the release out of the trustee's audit state: the trustee could then
//! approve a later query whose disclosure check depends on it (a differencing attack spread
//! over two sets). So before it answers as a member of a set, the trustee also reads the
//! ledger: every `result_delivered` entry names a release and its ciphertexts, and each must
//! be one this trustee answered (its share log holds a share for every ciphertext) or
//! recorded ([`crate::Trustee::observed`]). If one is neither and the platform does not list
//! it to be recorded, the trustee refuses to answer ([`Gap`]), naming the release and the
//! ledger entry, until the platform lists it.
//!
//! The ledger's entries are read as served; a platform that rewrites its ledger is caught
//! by the audit (signed checkpoints and consistency proofs), one that keeps an honest ledger
//! but an incomplete list is caught here.

use dtfhe_api::types::LedgerPage;
use dtfhe_api::Client;
use dtfhe_ledger::wording::parse_release_subject;
use dtfhe_ledger::EntryKind;

use crate::daemon::DaemonError;
use crate::shares::Hash;
use crate::Trustee;

/// Entries read per ledger request.
const PAGE: u64 = 500;

/// A release the ledger shows delivered that this trustee neither answered nor recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this trustee has not recorded release {release}, delivered by ledger entry {entry}, and \
     the platform does not list it to be recorded: it answers no release until it can"
)]
pub struct Gap {
    /// The release (seq of its `release_requested` entry).
    pub release: u64,
    /// The `result_delivered` entry.
    pub entry: u64,
}

/// One delivery read from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The release.
    pub release: u64,
    /// The `result_delivered` entry's seq.
    pub entry: u64,
    /// The ciphertexts delivered.
    pub ciphertexts: Vec<Hash>,
}

/// Where the trustee's reading of the ledger stands: entries before `next` are settled (each
/// delivery there was answered or recorded). Kept in memory: a restarted trustee reads the
/// ledger once from the start.
#[derive(Debug, Default)]
pub struct LedgerCatchUp {
    next: u64,
}

impl LedgerCatchUp {
    /// Reads the ledger from where the last call stopped and returns every delivery this
    /// trustee has not settled (empty: caught up). The cursor stops at the first of them,
    /// so they are checked again next time.
    pub fn unsettled(
        &mut self,
        client: &Client,
        trustee: &Trustee,
    ) -> Result<Vec<Delivery>, DaemonError> {
        let mut out: Vec<Delivery> = Vec::new();
        let at = pages(client, self.next, |page| {
            for d in deliveries(page)? {
                let settled = trustee.observed(&crate::quorum::release_id(d.release))
                    || trustee.answered_all(&d.ciphertexts)?;
                if !settled {
                    out.push(d);
                }
            }
            Ok(())
        })?;
        self.next = out.first().map_or(at, |d| d.entry);
        Ok(out)
    }
}

/// Reads the ledger from entry `from` to its end, page by page, handing each page to
/// `each`; returns the seq after the last entry read.
pub fn pages(
    client: &Client,
    from: u64,
    mut each: impl FnMut(&LedgerPage) -> Result<(), DaemonError>,
) -> Result<u64, DaemonError> {
    let mut at = from;
    loop {
        let page: LedgerPage = client.get_json(&format!("/v1/ledger?from={at}&limit={PAGE}"))?;
        let got = page.entries.len() as u64;
        each(&page)?;
        at += got;
        if got < PAGE {
            return Ok(at);
        }
    }
}

/// The `result_delivered` entries of a page, with their release and ciphertexts; an entry
/// that does not parse is a protocol error naming it.
pub fn deliveries(page: &LedgerPage) -> Result<Vec<Delivery>, DaemonError> {
    let delivered = EntryKind::ResultDelivered.name();
    page.entries
        .iter()
        .filter(|e| e.kind == delivered)
        .map(|e| {
            let bad = |what: &str| {
                DaemonError::Protocol(format!("ledger entry {} ({delivered}): {what}", e.seq))
            };
            let release =
                parse_release_subject(&e.subject).ok_or_else(|| bad("names no release"))?;
            let ciphertexts = e
                .hashes
                .iter()
                .map(|h| {
                    let mut out = [0u8; 32];
                    hex::decode_to_slice(h, &mut out).map(|()| out)
                })
                .collect::<Result<Vec<Hash>, _>>()
                .map_err(|_| bad("a hash is not 64 hex digits"))?;
            Ok(Delivery {
                release,
                entry: e.seq,
                ciphertexts,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtfhe_api::types::LedgerEntryInfo;
    use proptest::prelude::*;

    fn page(entries: Vec<LedgerEntryInfo>) -> LedgerPage {
        LedgerPage {
            size: entries.len() as u64,
            entries,
            checkpoint: String::new(),
            verifier_key: String::new(),
        }
    }

    fn entry(seq: u64, kind: &str, subject: &str, hashes: Vec<String>) -> LedgerEntryInfo {
        LedgerEntryInfo {
            seq,
            time_unix: 0,
            kind: kind.into(),
            actor: "analyst".into(),
            subject: subject.into(),
            detail: String::new(),
            hashes,
            encoded: String::new(),
        }
    }

    #[test]
    fn deliveries_are_read_and_other_entries_skipped() {
        let h = "ab".repeat(32);
        let p = page(vec![
            entry(7, "release_requested", "release 7", vec![h.clone()]),
            entry(
                9,
                "result_delivered",
                "release 7",
                vec![h.clone(), h.clone()],
            ),
        ]);
        let d = deliveries(&p).expect("parses");
        assert_eq!(
            d,
            vec![Delivery {
                release: 7,
                entry: 9,
                ciphertexts: vec![[0xab; 32], [0xab; 32]],
            }]
        );
    }

    #[test]
    fn a_malformed_delivery_is_an_error_naming_the_entry() {
        let bad_subject = page(vec![entry(3, "result_delivered", "query 7", vec![])]);
        let e = deliveries(&bad_subject).expect_err("subject");
        assert!(e.to_string().contains("ledger entry 3"), "{e}");
        let bad_hash = page(vec![entry(
            4,
            "result_delivered",
            "release 1",
            vec!["zz".into()],
        )]);
        let e = deliveries(&bad_hash).expect_err("hash");
        assert!(e.to_string().contains("ledger entry 4"), "{e}");
    }

    proptest! {
        /// Whatever the platform serves in a delivery's fields, reading it never panics.
        #[test]
        fn any_delivery_fields_never_panic(
            subject in ".{0,40}",
            hashes in proptest::collection::vec("[0-9a-fA-Fz]{0,70}", 0..4),
        ) {
            let _ = deliveries(&page(vec![entry(1, "result_delivered", &subject, hashes)]));
        }
    }
}
