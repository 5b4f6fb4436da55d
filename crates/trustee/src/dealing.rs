//! The trustee's side of the networked t-of-n dealing (see `docs/THRESHOLD.md` and the
//! platform's `/v1/dealing` routes), run by the daemon after the key ceremony when the
//! platform says the deployment has a threshold.
//!
//! 1. It draws an HPKE recipient key pair, keeps the secret in `dealing.key` (mode 0600,
//!    checksummed secret envelope, like `share.key`) before publishing the public key, so a
//!    restarted trustee can still open what was dealt to it.
//! 2. Once every trustee's key is in, it deals ([`deal`]): a Shamir polynomial of degree
//!    t−1 over its key share, the public commitment to it, and f(j) sealed to trustee j's
//!    key for every j (its own included), bound to the commitment. Only sealed bytes and the
//!    commitment leave the process; the polynomial is dropped (zeroized) right after.
//! 3. Once everyone dealt, it opens the n shares dealt to it and checks each against its
//!    dealer's commitment ([`accept_dealt`]); a share that does not open, is not the one
//!    expected or does not match is refused, naming the dealer, and nothing is kept.
//!    Otherwise it keeps S_j = Σ_i f_i(j) in `threshold.key` (0600), deletes `dealing.key`
//!    (the sealed shares the platform keeps then open for nobody) and tells the platform
//!    which commitments it accepted.

use std::path::Path;
use std::time::{Duration, Instant};

use dtfhe_api::dealing::{
    DealingAccept, DealingInbox, DealingKey, DealingPost, DealingState, DealtItem,
};
use dtfhe_api::remote::RemoteDeployment;
use dtfhe_api::types::{b64, unb64};
use dtfhe_api::Client;
use dtfhe_crypto::ceremony::net::CeremonySeed;
use dtfhe_crypto::seal::{RecipientKeyPair, RecipientPublicKey};
use dtfhe_crypto::threshold::commit::Commitment;
use dtfhe_crypto::threshold::wire::{open_share, seal_share, DealtShare, Expect};
use dtfhe_crypto::threshold::{Dealing, RnsSecret, ThresholdSecret};
use dtfhe_crypto::{CryptoError, Params};
use fhe::bfv::SecretKey;
use rand::{CryptoRng, RngCore};

use crate::daemon::{DaemonError, DaemonOptions};
use crate::{Trustee, TrusteeError};

/// File (in the trustee's directory) holding the secret of its dealing recipient key (mode
/// 0600, checksummed secret envelope).
pub const DEALING_KEY_FILE: &str = "dealing.key";

/// One trustee's dealing as it is posted: the commitment and one sealed share per trustee
/// (deployment order), all bytes.
#[derive(Debug, Clone)]
pub struct Dealt {
    /// `Commitment::to_bytes`.
    pub commitment: Vec<u8>,
    /// `seal_share` to each trustee, in deployment order.
    pub sealed: Vec<Vec<u8>>,
}

impl Dealt {
    /// The body that posts this dealing (commitment and each sealed share, by recipient
    /// name; `trustees` in deployment order).
    pub fn post(&self, trustees: &[String]) -> DealingPost {
        DealingPost {
            commitment: b64(&self.commitment),
            sealed: trustees
                .iter()
                .zip(&self.sealed)
                .map(|(t, s)| (t.clone(), b64(s)))
                .collect(),
        }
    }

    /// Bytes this dealing sends to the platform.
    pub fn bytes(&self) -> usize {
        self.commitment.len() + self.sealed.iter().map(Vec::len).sum::<usize>()
    }
}

/// Deals `share` (the key share of the trustee at `dealer`, 1-based) for a
/// `threshold`-of-`keys.len()` deployment of the ceremony `seed`: commits to a fresh
/// polynomial and seals its value at j to `keys[j − 1]`.
pub fn deal<R: RngCore + CryptoRng>(
    params: &Params,
    share: &SecretKey,
    seed: &CeremonySeed,
    dealer: u32,
    threshold: usize,
    keys: &[RecipientPublicKey],
    rng: &mut R,
) -> Result<Dealt, CryptoError> {
    let dealing = Dealing::new(params, share, threshold, keys.len(), rng)?;
    seal_dealing(params, &dealing, seed, dealer, keys, rng)
}

/// Commits to `dealing` (the polynomial of the trustee at `dealer`, a first dealing or a
/// re-sharing) and seals its value at j to `keys[j − 1]`, bound to the commitment: what
/// leaves the dealer's process.
pub fn seal_dealing<R: RngCore + CryptoRng>(
    params: &Params,
    dealing: &Dealing,
    seed: &CeremonySeed,
    dealer: u32,
    keys: &[RecipientPublicKey],
    rng: &mut R,
) -> Result<Dealt, CryptoError> {
    let n = keys.len();
    let threshold = dealing.threshold();
    let commitment = Commitment::new(params, &seed.0, dealer, dealing, rng)?;
    let sealed = keys
        .iter()
        .zip(1u32..)
        .map(|(key, recipient)| {
            let dealt = DealtShare {
                ceremony: seed.id().0,
                dealer,
                recipient,
                threshold,
                trustees: n,
                share: dealing.share_for(params, recipient)?,
            };
            seal_share(params, key, &dealt, &commitment, rng)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dealt {
        commitment: commitment.to_bytes(),
        sealed,
    })
}

/// blake3 (hex) of each dealer's commitment in `inbox`, in `trustees` order (what a
/// recipient accepts); `None` unless every trustee dealt exactly once.
pub fn commitment_hashes(inbox: &DealingInbox, trustees: &[String]) -> Option<Vec<String>> {
    trustees
        .iter()
        .map(|t| {
            let mut items = inbox.items.iter().filter(|i| &i.dealer == t);
            let item = items.next()?;
            if items.next().is_some() {
                return None;
            }
            let bytes = unb64("commitment", &item.commitment).ok()?;
            Some(blake3::hash(&bytes).to_hex().to_string())
        })
        .collect()
}

/// Opens every share dealt to the trustee `me` (point = its 1-based position in
/// `trustees`) and checks it against its dealer's commitment; returns the threshold secret
/// S_me and the accepted commitments' hashes. Any dealer missing, a share that does not
/// open, is not the expected one or does not match its commitment: refused, naming the
/// dealer ([`TrusteeError::DealtShare`]).
pub fn accept_dealt(
    params: &Params,
    keypair: &RecipientKeyPair,
    seed: &CeremonySeed,
    trustees: &[String],
    me: &str,
    threshold: usize,
    inbox: &DealingInbox,
) -> Result<(ThresholdSecret, Vec<String>), TrusteeError> {
    let n = trustees.len();
    let point = position(trustees, me).ok_or_else(|| TrusteeError::DealtShare {
        trustee: me.to_string(),
        dealer: me.to_string(),
        source: CryptoError::Ceremony(format!("`{me}` is not a trustee of the dealing")),
    })?;
    let mut dealt = Vec::with_capacity(n);
    for (dealer, name) in (1u32..).zip(trustees) {
        let refuse = |source: CryptoError| TrusteeError::DealtShare {
            trustee: me.to_string(),
            dealer: name.clone(),
            source,
        };
        let expect = Expect {
            seed,
            dealer,
            recipient: point,
            threshold,
            trustees: n,
        };
        let (_, share) = open_item(params, keypair, expect, &inbox.items, name).map_err(refuse)?;
        dealt.push(share);
    }
    let secret = ThresholdSecret::aggregate(params, point, threshold, n, &dealt)?;
    let hashes = commitment_hashes(inbox, trustees).ok_or_else(|| TrusteeError::DealtShare {
        trustee: me.to_string(),
        dealer: trustees.join(", "),
        source: CryptoError::Ceremony("a dealer dealt twice".into()),
    })?;
    Ok((secret, hashes))
}

/// Opens the share `dealer` (named `name`) sealed to the recipient of `expect` among the
/// relayed `items` and checks it against the dealer's commitment; returns the commitment
/// and the share. Used by the first dealing and the re-sharing alike.
pub(crate) fn open_item(
    params: &Params,
    keypair: &RecipientKeyPair,
    expect: Expect<'_>,
    items: &[DealtItem],
    name: &str,
) -> Result<(Commitment, RnsSecret), CryptoError> {
    let item = items
        .iter()
        .find(|i| i.dealer == name)
        .ok_or_else(|| CryptoError::Ceremony("no share was dealt".into()))?;
    let field = |what: &str, text: &str| {
        unb64(what, text).map_err(|e| CryptoError::Malformed {
            what: "dealing",
            reason: e.to_string(),
        })
    };
    let commitment = Commitment::from_bytes(params, &field("commitment", &item.commitment)?)?;
    let share = open_share(
        params,
        keypair,
        expect,
        &commitment,
        &field("sealed", &item.sealed)?,
    )?;
    Ok((commitment, share))
}

pub(crate) fn position(trustees: &[String], me: &str) -> Option<u32> {
    trustees.iter().position(|t| t == me).map(|i| i as u32 + 1)
}

/// The recipient key pair kept in `dir/dealing.key`, drawn and kept there first if absent.
pub fn recipient_keypair(dir: &Path) -> Result<RecipientKeyPair, TrusteeError> {
    recipient_keypair_in(&dir.join(DEALING_KEY_FILE))
}

/// The recipient key pair kept in `file` (0600, checksummed secret envelope), drawn and
/// kept there first if absent.
pub fn recipient_keypair_in(file: &Path) -> Result<RecipientKeyPair, TrusteeError> {
    let file = file.to_path_buf();
    let ks = |e: &dyn std::fmt::Display| TrusteeError::KeyStore {
        path: file.display().to_string(),
        reason: e.to_string(),
    };
    if !file.exists() {
        let fresh = RecipientKeyPair::generate(&mut rand::rng());
        dtfhe_model::secret_file::write_new_secret(&file, fresh.secret_bytes().as_ref())
            .map_err(|e| ks(&e))?;
    }
    let bytes = dtfhe_model::secret_file::read_secret(&file).map_err(|e| ks(&e))?;
    RecipientKeyPair::from_secret_bytes(&bytes).map_err(|e| ks(&e))
}

pub(crate) fn crypto(e: CryptoError) -> DaemonError {
    DaemonError::Trustee(TrusteeError::Crypto(e))
}

pub(crate) fn protocol(what: impl Into<String>) -> DaemonError {
    DaemonError::Protocol(what.into())
}

/// A dealing is joined only for the threshold the trustee's operator agreed to: `agreed`
/// (`--threshold`) must equal the platform's `announced` t; without it, only a trustee
/// that already keeps its threshold secret (dealt in an earlier run) goes on.
pub(crate) fn check_agreed(
    agreed: Option<usize>,
    announced: usize,
    n: usize,
    kept: bool,
) -> Result<(), DaemonError> {
    match agreed {
        Some(t) if t == announced => Ok(()),
        Some(t) => Err(protocol(format!(
            "the platform announces a {announced}-of-{n} dealing, but this trustee agreed to \
             {t}-of-{n} (--threshold {t}): refusing it"
        ))),
        None if kept => Ok(()),
        None => Err(protocol(format!(
            "the platform announces a {announced}-of-{n} dealing; a trustee deals only for the \
             threshold its operator agreed to: start it with --threshold {announced} if that is \
             the agreed t"
        ))),
    }
}

/// One wait of a round (`round`, e.g. "the threshold dealing") for the other trustees: a
/// poll interval, or an error once a `--once` run is past its timeout or the daemon is
/// stopped.
pub(crate) fn waiter<'a>(
    opts: &'a DaemonOptions,
    started: Instant,
    round: &'a str,
) -> impl Fn(&str) -> Result<(), DaemonError> + 'a {
    move |why: &str| {
        if opts.once && started.elapsed() > opts.timeout {
            return Err(protocol(format!("{round} did not finish in time ({why})")));
        }
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(protocol(format!("stopped during {round}")));
        }
        std::thread::sleep(opts.poll.max(Duration::from_millis(50)));
        Ok(())
    }
}

/// The state of a dealing round at `path` (`None`: 404, there is none), retried while the
/// platform cannot be reached.
pub(crate) fn round_state<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
    name: &str,
    wait: &dyn Fn(&str) -> Result<(), DaemonError>,
) -> Result<Option<T>, DaemonError> {
    loop {
        match client.get_json(path) {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) if e.is_retryable() => {
                eprintln!("trustee {name}: {e}; retrying");
                wait("platform unreachable")?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The recipient keys (`keys`: base64 by name) of `trustees`, in their order.
pub(crate) fn recipient_keys(
    keys: &std::collections::BTreeMap<String, String>,
    trustees: &[String],
) -> Result<Vec<RecipientPublicKey>, DaemonError> {
    trustees
        .iter()
        .map(|t| {
            let key = keys
                .get(t)
                .ok_or_else(|| protocol(format!("no recipient key of `{t}`")))?;
            let bytes = unb64("key", key).map_err(|e| protocol(e.to_string()))?;
            RecipientPublicKey::from_bytes(&bytes).map_err(crypto)
        })
        .collect()
}

/// Takes part in the dealing if the deployment has a threshold (the platform answers
/// `GET /v1/dealing` with 404 otherwise); returns once this trustee keeps its threshold
/// secret and the platform recorded its acceptance. Prints the set-up time and the bytes it
/// sent.
pub fn join(
    client: &Client,
    opts: &DaemonOptions,
    deployed: &RemoteDeployment,
    trustee: &Trustee,
) -> Result<(), DaemonError> {
    let name = trustee.name().to_string();
    let params = &deployed.params;
    let trustees = &deployed.info.trustees;
    let n = trustees.len();
    let point = position(trustees, &name).ok_or_else(|| protocol("not a trustee"))?;
    let started = Instant::now();
    let mut keypair: Option<RecipientKeyPair> = None;
    let wait = waiter(opts, started, "the threshold dealing");
    loop {
        let Some(st): Option<DealingState> = round_state(client, "/v1/dealing", &name, &wait)?
        else {
            return Ok(());
        };
        if &st.trustees != trustees {
            return Err(protocol(format!(
                "the dealing's trustees ({}) are not the deployment's ({})",
                st.trustees.join(", "),
                trustees.join(", ")
            )));
        }
        let recorded = std::fs::read_to_string(opts.dir.join(crate::keystore::CEREMONY_SEED_FILE))
            .unwrap_or_default();
        if recorded.trim() != st.seed {
            return Err(protocol(
                "the dealing names another ceremony than the one this trustee's share took part in",
            ));
        }
        if st.threshold < 2 {
            return Err(protocol(format!(
                "refusing a {}-of-{n} dealing: every trustee would hold the whole key",
                st.threshold
            )));
        }
        check_agreed(opts.threshold, st.threshold, n, trustee.has_threshold())?;
        let seed = CeremonySeed::from_hex(&st.seed).map_err(crypto)?;
        if trustee.has_threshold() {
            if st.progress.accepted.contains(&name) {
                return Ok(());
            }
            // Kept in an earlier run, not yet said: say which commitments it accepted.
            let inbox: DealingInbox = client.get_json("/v1/dealing/inbox")?;
            let commitments = commitment_hashes(&inbox, trustees)
                .ok_or_else(|| protocol("the platform's inbox lacks a dealer"))?;
            let _: DealingState =
                client.post_json("/v1/dealing/accept", &DealingAccept { commitments })?;
            continue;
        }
        if keypair.is_none() {
            keypair = Some(recipient_keypair(&opts.dir)?);
        }
        let Some(kp) = keypair.as_ref() else {
            continue;
        };
        let mine = b64(&kp.public_key().to_bytes());
        if st.progress.keys.get(&name) != Some(&mine) {
            let _: DealingState = client.post_json("/v1/dealing/key", &DealingKey { key: mine })?;
            eprintln!("trustee {name}: dealing key published");
            continue;
        }
        if st.progress.keys.len() < n {
            wait("waiting for every trustee's dealing key")?;
            continue;
        }
        if !st.progress.dealt.contains(&name) {
            let keys = recipient_keys(&st.progress.keys, trustees)?;
            let dealing_started = Instant::now();
            let dealt = deal(
                params,
                trustee.share_for_ceremony()?,
                &seed,
                point,
                st.threshold,
                &keys,
                &mut rand::rng(),
            )
            .map_err(crypto)?;
            let _: DealingState = client.post_json("/v1/dealing/shares", &dealt.post(trustees))?;
            eprintln!(
                "trustee {name}: dealt its {}-of-{n} shares: {} bytes sent (commitment {} B, \
                 {n} sealed shares) in {:.3} s",
                st.threshold,
                dealt.bytes(),
                dealt.commitment.len(),
                dealing_started.elapsed().as_secs_f64()
            );
            continue;
        }
        if st.progress.dealt.len() < n {
            wait("waiting for every trustee's dealing")?;
            continue;
        }
        let inbox: DealingInbox = client.get_json("/v1/dealing/inbox")?;
        let (secret, commitments) =
            accept_dealt(params, kp, &seed, trustees, &name, st.threshold, &inbox)?;
        trustee.keep_threshold(params, &secret)?;
        // The recipient key has served: without it the sealed shares the platform keeps
        // open for nobody (a restart before the acceptance is said needs only the inbox's
        // commitments).
        crate::keystore::remove_served(&opts.dir.join(DEALING_KEY_FILE))?;
        let _: DealingState =
            client.post_json("/v1/dealing/accept", &DealingAccept { commitments })?;
        eprintln!(
            "trustee {name}: checked the {n} shares dealt to it against their commitments; \
             threshold secret kept ({}-of-{n}); dealing set-up took {:.3} s",
            st.threshold,
            started.elapsed().as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A platform announcing another t than the operator's, or a trustee started without
    /// one, does not deal (a smaller t would let fewer trustees decrypt).
    #[test]
    fn a_dealing_is_joined_only_for_the_agreed_threshold() {
        assert!(check_agreed(Some(3), 3, 5, false).is_ok());
        let lower = check_agreed(Some(3), 2, 5, false).expect_err("lower t");
        assert!(
            lower.to_string().contains("announces a 2-of-5 dealing")
                && lower.to_string().contains("--threshold 3"),
            "{lower}"
        );
        assert!(
            check_agreed(Some(3), 4, 5, true).is_err(),
            "a kept secret does not excuse a mismatch"
        );
        let unset = check_agreed(None, 3, 5, false).expect_err("no --threshold");
        assert!(
            unset.to_string().contains("start it with --threshold 3"),
            "{unset}"
        );
        assert!(
            check_agreed(None, 3, 5, true).is_ok(),
            "dealt in an earlier run"
        );
    }
}
