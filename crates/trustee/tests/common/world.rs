//! A 3-of-5 first dealing among trustees in one process, the platform played by the test
//! (the dealing and re-sharing tests start from it).

use dtfhe_api::dealing::{DealingInbox, DealtItem};
use dtfhe_api::types::b64;
use dtfhe_crypto::ceremony::{self, net::CeremonySeed};
use dtfhe_crypto::seal::RecipientKeyPair;
use dtfhe_crypto::{Params, Preset};
use dtfhe_trustee::dealing::{accept_dealt, deal, Dealt};
use dtfhe_trustee::TrusteeError;

pub const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
pub const T: usize = 3;

pub struct World {
    pub params: Params,
    pub seed: CeremonySeed,
    pub names: Vec<String>,
    pub hpke: Vec<RecipientKeyPair>,
    pub dealt: Vec<Dealt>,
}

pub fn world() -> World {
    world_at(Preset::Bfv8192)
}

pub fn world_at(preset: Preset) -> World {
    let params = preset.params().expect("preset");
    let mut rng = rand::rng();
    let seed = CeremonySeed::random(&mut rng);
    let hpke: Vec<RecipientKeyPair> = NAMES
        .iter()
        .map(|_| RecipientKeyPair::generate(&mut rng))
        .collect();
    let keys: Vec<_> = hpke.iter().map(|k| k.public_key().clone()).collect();
    let dealt = (1u32..)
        .zip(NAMES)
        .map(|(point, _)| {
            let share = ceremony::new_share(&params, &mut rng);
            deal(&params, &share, &seed, point, T, &keys, &mut rng).expect("deal")
        })
        .collect();
    World {
        params,
        seed,
        names: NAMES.map(String::from).to_vec(),
        hpke,
        dealt,
    }
}

/// What `dealers` (their dealings `dealt`, in order) relay to the recipient at index `r`.
pub fn items(dealers: &[String], dealt: &[Dealt], r: usize) -> Vec<DealtItem> {
    dealers
        .iter()
        .zip(dealt)
        .map(|(dealer, d)| DealtItem {
            dealer: dealer.clone(),
            commitment: b64(&d.commitment),
            sealed: b64(&d.sealed[r]),
        })
        .collect()
}

impl World {
    /// What the platform relays to trustee `r` (0-based).
    pub fn inbox(&self, r: usize) -> DealingInbox {
        DealingInbox {
            items: items(&self.names, &self.dealt, r),
        }
    }

    /// Trustee `r` checks `inbox`: the residues of its threshold secret, or the refusal.
    pub fn accept(&self, r: usize, inbox: &DealingInbox) -> Result<Vec<u64>, TrusteeError> {
        self.accept_secret(r, inbox)
            .map(|s| s.secret().residues().to_vec())
    }

    /// Trustee `r` checks `inbox` and keeps its threshold secret (epoch 0).
    pub fn accept_secret(
        &self,
        r: usize,
        inbox: &DealingInbox,
    ) -> Result<dtfhe_crypto::threshold::ThresholdSecret, TrusteeError> {
        accept_dealt(
            &self.params,
            &self.hpke[r],
            &self.seed,
            &self.names,
            &self.names[r],
            T,
            inbox,
        )
        .map(|(secret, hashes)| {
            assert_eq!(hashes.len(), NAMES.len());
            secret
        })
    }

    /// Trustee `r`'s threshold secret (epoch 0) from the honest dealing.
    pub fn secret(&self, r: usize) -> dtfhe_crypto::threshold::ThresholdSecret {
        self.accept_secret(r, &self.inbox(r))
            .expect("honest dealing")
    }

    /// The first dealing's commitments (base64), in dealer order: what a re-sharing's inbox
    /// relays as the sharing before.
    pub fn previous(&self) -> Vec<String> {
        self.dealt.iter().map(|d| b64(&d.commitment)).collect()
    }

    /// blake3 (hex) of the first dealing's commitments: what its acceptance entries in the
    /// ledger name.
    pub fn previous_hashes(&self) -> Vec<String> {
        self.dealt
            .iter()
            .map(|d| blake3::hash(&d.commitment).to_hex().to_string())
            .collect()
    }
}
