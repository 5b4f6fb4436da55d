//! Bodies of the t-of-n dealing routes (`/v1/dealing...`, trustee role) and of the quorum
//! facts a release carries (see docs/THRESHOLD.md).
//!
//! After the key ceremony of a deployment started with `dtfhe serve --threshold t`, every
//! trustee publishes an HPKE recipient key, then posts its dealing: the public commitment to
//! its Shamir polynomial and one share per trustee (its own included), each sealed to that
//! trustee's key. The platform relays bytes it cannot open; each trustee fetches what was
//! dealt to it, checks every share against its dealer's commitment, keeps the sum as its
//! threshold secret and says so. Every accepted step is a `ceremony_step` ledger entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /v1/dealing`: where the dealing stands (404 on an n-of-n deployment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealingState {
    /// t: any t trustees release.
    pub threshold: usize,
    /// The trustees, in deployment order (trustee i deals and answers at point i + 1).
    pub trustees: Vec<String>,
    /// The key ceremony's public seed (hex): it names the dealing and derives the
    /// commitments' public polynomials.
    pub seed: String,
    /// Each trustee's HPKE recipient public key (base64), once published.
    pub keys: BTreeMap<String, String>,
    /// Trustees whose dealing (commitment and sealed shares) is in.
    pub dealt: Vec<String>,
    /// Trustees that checked every share dealt to them and keep their threshold secret.
    pub accepted: Vec<String>,
    /// Whether every trustee accepted: releases by any t may start.
    pub complete: bool,
}

/// `POST /v1/dealing/key`: the caller's HPKE recipient public key (base64, 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealingKey {
    /// base64 of the X25519 public key.
    pub key: String,
}

/// `POST /v1/dealing/shares`: the caller's dealing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealingPost {
    /// base64 of `dtfhe_crypto::threshold::commit::Commitment::to_bytes`.
    pub commitment: String,
    /// One sealed share per trustee, the dealer's own included (base64 of
    /// `dtfhe_crypto::threshold::wire::seal_share`), by recipient name.
    pub sealed: BTreeMap<String, String>,
}

/// One dealer's part of a recipient's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealtItem {
    /// The dealer.
    pub dealer: String,
    /// Its commitment (base64).
    pub commitment: String,
    /// The share it sealed to the caller (base64).
    pub sealed: String,
}

/// `GET /v1/dealing/inbox`: what was dealt to the caller so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealingInbox {
    /// One item per dealer whose dealing is in, in deployment order.
    pub items: Vec<DealtItem>,
}

/// `POST /v1/dealing/accept`: the caller checked every dealt share against its dealer's
/// commitment and keeps their sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DealingAccept {
    /// blake3 (hex) of each dealer's commitment, in deployment order: what was checked.
    pub commitments: Vec<String>,
}

/// The quorum of a t-of-n release, as trustees and the analyst see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quorum {
    /// t.
    pub threshold: usize,
    /// Trustees that said they are ready to answer, in the order they did.
    pub claimed: Vec<String>,
    /// The release set: the first t that claimed, fixed once there are t (and never
    /// changed); only its members answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<String>>,
}

impl Quorum {
    /// `who` says it is ready to answer: counted once while the set is open; the first
    /// `threshold` claims fix the set, which never changes after. Returns whether the set
    /// was fixed by this claim.
    pub fn claim(&mut self, who: &str) -> bool {
        if self.set.is_some() || self.claimed.iter().any(|c| c == who) {
            return false;
        }
        self.claimed.push(who.to_string());
        if self.claimed.len() < self.threshold {
            return false;
        }
        self.set = Some(self.claimed[..self.threshold].to_vec());
        true
    }

    /// Whether `who` may answer: a member of the fixed set.
    pub fn admits(&self, who: &str) -> bool {
        self.set
            .as_ref()
            .is_some_and(|s| s.iter().any(|m| m == who))
    }

    /// The release set's points (1-based positions in `trustees`), if the set is fixed and
    /// every member is a trustee.
    pub fn points(&self, trustees: &[String]) -> Option<Vec<u32>> {
        self.set
            .as_ref()?
            .iter()
            .map(|m| trustees.iter().position(|t| t == m).map(|i| i as u32 + 1))
            .collect()
    }

    /// Why nothing can be released yet: "no quorum: t of n trustees must answer, only k
    /// did (…); missing: …".
    pub fn missing(&self, trustees: &[String]) -> String {
        let missing: Vec<&str> = trustees
            .iter()
            .filter(|t| !self.claimed.contains(t))
            .map(String::as_str)
            .collect();
        format!(
            "no quorum: {} of {} trustees must answer, only {} did ({}); missing: {}",
            self.threshold,
            trustees.len(),
            self.claimed.len(),
            self.claimed.join(", "),
            missing.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_follow_deployment_order_and_missing_names_the_quorum() {
        let trustees: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let q = Quorum {
            threshold: 3,
            claimed: vec!["d".into(), "b".into()],
            set: None,
        };
        assert_eq!(q.points(&trustees), None);
        let msg = q.missing(&trustees);
        assert_eq!(
            msg,
            "no quorum: 3 of 5 trustees must answer, only 2 did (d, b); missing: a, c, e"
        );
        let fixed = Quorum {
            set: Some(vec!["d".into(), "b".into(), "e".into()]),
            ..q
        };
        assert_eq!(fixed.points(&trustees), Some(vec![4, 2, 5]));
        let stranger = Quorum {
            set: Some(vec!["x".into()]),
            ..fixed
        };
        assert_eq!(stranger.points(&trustees), None);
    }

    #[test]
    fn the_first_t_claims_fix_the_set_once_and_for_all() {
        let mut q = Quorum {
            threshold: 3,
            claimed: Vec::new(),
            set: None,
        };
        assert!(!q.claim("d"));
        assert!(!q.claim("d"), "a second claim counts once");
        assert!(!q.claim("b"));
        assert!(!q.admits("d"), "nobody answers before the set is fixed");
        assert!(q.claim("e"));
        assert_eq!(q.set, Some(vec!["d".into(), "b".into(), "e".into()]));
        assert!(q.admits("b") && !q.admits("a"));
        // Later claims change nothing: the platform cannot move the set.
        assert!(!q.claim("a") && !q.claim("c"));
        assert_eq!(q.set, Some(vec!["d".into(), "b".into(), "e".into()]));
        assert_eq!(q.claimed.len(), 3);
    }
}
