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
    /// Keys, dealings and acceptances so far (flattened into this body's JSON).
    #[serde(flatten)]
    pub progress: RoundProgress,
}

/// How far a dealing round (the first dealing or a re-sharing) has come: the same three
/// steps in both, so a trustee follows both the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoundProgress {
    /// Each trustee's HPKE recipient public key (base64), once published (fresh for each
    /// round).
    pub keys: BTreeMap<String, String>,
    /// Dealers whose dealing (commitment and sealed shares) is in: every trustee in the
    /// first dealing, the re-dealers in a re-sharing.
    pub dealt: Vec<String>,
    /// Trustees that checked every share dealt to them and keep the round's threshold
    /// secret.
    pub accepted: Vec<String>,
    /// Whether every trustee accepted: releases by any t may start (or resume under the new
    /// epoch).
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

/// `POST /v1/trustees/replace` (admin): replace the trustee `old` of a t-of-n deployment by
/// the registered trustee `new`, at `old`'s position. The platform records a
/// `trustee_replaced` ledger entry and opens the re-sharing of the next epoch
/// (`/v1/resharing`), which hands the position's share to `new` without decrypting anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrusteeReplacement {
    /// The trustee that leaves.
    pub old: String,
    /// The registered trustee identity that takes its position.
    pub new: String,
}

/// `GET /v1/resharing`: the latest proactive re-sharing (404 before the first replacement).
/// Its messages travel in the bodies of the first dealing ([`DealingKey`], [`DealingPost`],
/// [`DealingAccept`]) to `/v1/resharing/key`, `/shares`, `/accept`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResharingState {
    /// The epoch this re-sharing makes (the first dealing is epoch 0; the k-th re-sharing
    /// makes epoch k).
    pub epoch: u32,
    /// t (unchanged).
    pub threshold: usize,
    /// The trustees after the replacement, in deployment order (point = position + 1).
    pub trustees: Vec<String>,
    /// The trustee that left.
    pub departed: String,
    /// The trustee that took its position.
    pub joined: String,
    /// The position (1-based) that changed hands.
    pub position: usize,
    /// The key ceremony's seed (hex): the commitments' public polynomials derive from it,
    /// as in the first dealing (so the re-sharing is checked against the sharing before).
    pub seed: String,
    /// The t re-dealers, fixed when the re-sharing opened: the first t trustees in good
    /// standing (not revoked, not the departed one nor the new one), in deployment order.
    /// Their points are the Lagrange set each weights its secret for.
    pub redealers: Vec<String>,
    /// Keys, dealings and acceptances so far (flattened into this body's JSON).
    #[serde(flatten)]
    pub progress: RoundProgress,
}

/// `GET /v1/resharing/inbox`: what the re-dealers dealt to the caller, and the sharing the
/// re-sharing must carry the secret of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResharingInbox {
    /// The re-sharing's epoch.
    pub epoch: u32,
    /// One item per re-dealer whose dealing is in, in re-dealer order.
    pub items: Vec<DealtItem>,
    /// The commitments (base64) of the dealers of the sharing before (epoch − 1), in dealer
    /// order; the recipient checks their hashes against that sharing's acceptance entries in
    /// the ledger before it checks the re-sharing against them (`same_secret`).
    pub previous: Vec<String>,
}

/// The quorum of a t-of-n release, as trustees and the analyst see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quorum {
    /// t.
    pub threshold: usize,
    /// Trustees that said they are ready to answer, in the order they did.
    pub claimed: Vec<String>,
    /// The release set, fixed once t claims allow one (see [`Quorum::claim`]) and never
    /// changed; only its members answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Vec<String>>,
    /// The sets that answered (or are answering) an earlier release sharing a ciphertext
    /// with this one. A trustee answers one set per ciphertext, so this release's set must
    /// be one of them or share no member with any of them: the same query asked again is
    /// released by the set that released it before, not refused by a trustee of a
    /// different first-t set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<Vec<String>>,
}

impl Quorum {
    /// A quorum of `threshold` with no claim yet, constrained by the `earlier` sets.
    pub fn new(threshold: usize, earlier: Vec<Vec<String>>) -> Quorum {
        Quorum {
            threshold,
            claimed: Vec::new(),
            set: None,
            earlier,
        }
    }

    /// `who` says it is ready to answer: counted once while the set is open. The set is
    /// fixed as soon as the claims allow one: an [`Quorum::earlier`] set all of whose
    /// members claimed (and that every other earlier set equals or avoids), else the first
    /// t claimants outside every earlier set. It never changes after. Returns whether the
    /// set was fixed by this claim.
    pub fn claim(&mut self, who: &str) -> bool {
        if self.set.is_some() || self.claimed.iter().any(|c| c == who) {
            return false;
        }
        self.claimed.push(who.to_string());
        self.set = self.possible_set();
        self.set.is_some()
    }

    /// The set the claims so far allow, if any (see [`Quorum::claim`]).
    pub fn possible_set(&self) -> Option<Vec<String>> {
        let claimed = |m: &String| self.claimed.contains(m);
        let same =
            |a: &[String], b: &[String]| a.len() == b.len() && a.iter().all(|m| b.contains(m));
        let apart = |a: &[String], b: &[String]| !a.iter().any(|m| b.contains(m));
        let earlier = self.earlier.iter().find(|e| {
            e.len() == self.threshold
                && e.iter().all(claimed)
                && self.earlier.iter().all(|o| same(o, e) || apart(o, e))
        });
        if let Some(e) = earlier {
            return Some(e.clone());
        }
        let free: Vec<String> = self
            .claimed
            .iter()
            .filter(|c| !self.earlier.iter().any(|e| e.contains(c)))
            .take(self.threshold)
            .cloned()
            .collect();
        (free.len() == self.threshold).then_some(free)
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
    /// did (…); missing: …", and, when earlier sets constrain it, which sets could still
    /// answer.
    pub fn missing(&self, trustees: &[String]) -> String {
        let missing: Vec<&str> = trustees
            .iter()
            .filter(|t| !self.claimed.contains(t))
            .map(String::as_str)
            .collect();
        let mut text = format!(
            "no quorum: {} of {} trustees must answer, only {} did ({}); missing: {}",
            self.threshold,
            trustees.len(),
            self.claimed.len(),
            self.claimed.join(", "),
            missing.join(", ")
        );
        if !self.earlier.is_empty() {
            let sets: Vec<String> = self
                .earlier
                .iter()
                .map(|e| format!("{{{}}}", e.join(", ")))
                .collect();
            text.push_str(&format!(
                "; its ciphertexts were answered before by {} (a trustee answers one set per \
                 ciphertext): only that set, or {} trustees outside it, can release them",
                sets.join(" and "),
                self.threshold
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_follow_deployment_order_and_missing_names_the_quorum() {
        let trustees: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        let q = Quorum {
            claimed: vec!["d".into(), "b".into()],
            ..Quorum::new(3, Vec::new())
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
        let mut q = Quorum::new(3, Vec::new());
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

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_earlier_set_is_waited_for_and_mixed_sets_never_form() {
        // {a, b, c} released these ciphertexts before: d, e and then b claiming first does
        // not fix {d, e, b} (b would refuse: another set for its ciphertexts).
        let mut q = Quorum::new(3, vec![names(&["a", "b", "c"])]);
        assert!(!q.claim("d") && !q.claim("e") && !q.claim("b"));
        assert_eq!(q.set, None);
        assert!(!q.claim("a"));
        assert!(q.claim("c"), "the earlier set, wholly claimed");
        assert_eq!(q.set, Some(names(&["a", "b", "c"])));
        // Five of seven: three outside the earlier set may form a set of their own.
        let mut q = Quorum::new(3, vec![names(&["a", "b", "c"])]);
        for who in ["a", "d", "e"] {
            assert!(!q.claim(who));
        }
        assert!(q.claim("f"));
        assert_eq!(q.set, Some(names(&["d", "e", "f"])));
        // Two earlier sets that overlap: neither can be used (each shares a member with the
        // other), only trustees outside both.
        let mut q = Quorum::new(2, vec![names(&["a", "b"]), names(&["b", "c"])]);
        for who in ["a", "b", "c"] {
            assert!(!q.claim(who));
        }
        assert!(!q.claim("d"));
        assert!(q.claim("e"));
        assert_eq!(q.set, Some(names(&["d", "e"])));
        // The same earlier set twice (two earlier releases) is one constraint.
        let mut q = Quorum::new(2, vec![names(&["b", "a"]), names(&["a", "b"])]);
        assert!(!q.claim("a"));
        assert!(q.claim("b"));
        assert_eq!(q.set, Some(names(&["b", "a"])));
    }

    #[test]
    fn missing_names_the_earlier_set() {
        let trustees = names(&["a", "b", "c", "d", "e"]);
        let mut q = Quorum::new(3, vec![names(&["a", "b", "c"])]);
        q.claim("b");
        q.claim("d");
        q.claim("e");
        assert_eq!(q.set, None);
        assert_eq!(
            q.missing(&trustees),
            "no quorum: 3 of 5 trustees must answer, only 3 did (b, d, e); missing: a, c; \
             its ciphertexts were answered before by {a, b, c} (a trustee answers one set per \
             ciphertext): only that set, or 3 trustees outside it, can release them"
        );
    }
}
