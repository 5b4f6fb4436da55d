//! The trustee's side of a proactive re-sharing (see `docs/THRESHOLD.md` and the platform's
//! `/v1/resharing` routes): after an admin replaced a trustee, the trustees of the new list
//! hand the collective secret to a fresh Shamir sharing without decrypting anything.
//!
//! 1. Every trustee of the new list draws a fresh HPKE recipient key pair for this epoch,
//!    keeps its secret in `resharing-K.key` (0600, checksummed secret envelope) and
//!    publishes the public key.
//! 2. Each of the t re-dealers the platform named (the first t trustees in good standing)
//!    deals its threshold secret weighted for the re-dealers' set
//!    (`Dealing::reshare`: constant term λ·S, fresh coefficients), commits to it and seals
//!    its value at every position to that position's key ([`redeal`]).
//! 3. Every trustee opens the t shares dealt to it, checks each against its re-dealer's
//!    commitment and the re-sharing as a whole against the sharing before
//!    (`commit::same_secret` on the previous epoch's commitments, whose hashes it reads from
//!    that sharing's acceptance entries in the ledger, [`accept_reshared`]); a re-dealer that
//!    weighted for another set, or a relayed share that does not open or match, is refused
//!    and nothing is replaced. Otherwise it replaces its threshold secret by the new one of
//!    this epoch (the old one is gone), deletes the epoch's recipient key and says which
//!    commitments it accepted.

use std::path::PathBuf;
use std::time::Instant;

use dtfhe_api::dealing::{DealingAccept, DealingKey, ResharingInbox, ResharingState};
use dtfhe_api::types::{b64, unb64};
use dtfhe_api::Client;
use dtfhe_crypto::ceremony::net::CeremonySeed;
use dtfhe_crypto::seal::{RecipientKeyPair, RecipientPublicKey};
use dtfhe_crypto::threshold::commit::{same_secret, Commitment};
use dtfhe_crypto::threshold::wire::Expect;
use dtfhe_crypto::threshold::{Dealing, ThresholdSecret};
use dtfhe_crypto::{CryptoError, Params};
use dtfhe_ledger::membership::{sharing_subject, ACCEPTANCE_MARK};
use dtfhe_ledger::EntryKind;
use rand::{CryptoRng, RngCore};

use crate::daemon::{DaemonError, DaemonOptions};
use crate::dealing::{
    check_agreed, crypto, open_item, position, protocol, recipient_keypair_in, recipient_keys,
    round_state, seal_dealing, waiter, Dealt,
};
use crate::{Trustee, TrusteeError};

/// The file (in the trustee's directory) of its recipient key for the re-sharing of
/// `epoch`.
pub fn key_file(opts: &DaemonOptions, epoch: u32) -> PathBuf {
    opts.dir.join(format!("resharing-{epoch}.key"))
}

/// Member `held.point` of the re-dealers' `set` re-deals its threshold secret for the
/// ceremony `seed`: a fresh polynomial with constant term λ^set·S, its commitment, and its
/// value at j sealed to `keys[j − 1]` for every position j of the new list.
pub fn redeal<R: RngCore + CryptoRng>(
    params: &Params,
    held: &ThresholdSecret,
    seed: &CeremonySeed,
    set: &[u32],
    keys: &[RecipientPublicKey],
    rng: &mut R,
) -> Result<Dealt, CryptoError> {
    let dealing = Dealing::reshare(params, held, set, rng)?;
    seal_dealing(params, &dealing, seed, held.point, keys, rng)
}

/// What a recipient checks a re-sharing against.
#[derive(Debug, Clone, Copy)]
pub struct Resharing<'a> {
    /// The ceremony's seed (the commitments' public polynomials).
    pub seed: &'a CeremonySeed,
    /// The trustees after the replacement (point = position + 1).
    pub trustees: &'a [String],
    /// The re-dealers, in order (the Lagrange set).
    pub redealers: &'a [String],
    /// t.
    pub threshold: usize,
    /// The epoch the re-sharing makes.
    pub epoch: u32,
    /// blake3 (hex) of the commitments of the sharing before, as its acceptance entries in
    /// the ledger name them, in dealer order.
    pub previous: &'a [String],
}

/// Opens and checks the shares the re-dealers dealt to `me` and the re-sharing as a whole;
/// returns the new threshold secret (of the re-sharing's epoch) and the accepted
/// commitments' hashes. Refused, naming the re-dealer when one share is at fault
/// ([`TrusteeError::Reshared`]): a share missing, not opening, not the expected one or not
/// matching its commitment; the sharing before not the ledger's; or constant terms that do
/// not carry the secret of the sharing before (a re-dealer weighting for another set).
pub fn accept_reshared(
    params: &Params,
    keypair: &RecipientKeyPair,
    r: Resharing<'_>,
    me: &str,
    inbox: &ResharingInbox,
) -> Result<(ThresholdSecret, Vec<String>), TrusteeError> {
    let refuse = |dealer: Option<&str>, source: CryptoError| TrusteeError::Reshared {
        trustee: me.to_string(),
        epoch: r.epoch,
        dealer: dealer.map(str::to_string),
        source,
    };
    let whole = |reason: String| refuse(None, CryptoError::Ceremony(reason));
    let n = r.trustees.len();
    let point = position(r.trustees, me)
        .ok_or_else(|| whole(format!("`{me}` is not a trustee of the re-sharing")))?;
    if inbox.epoch != r.epoch {
        return Err(whole(format!(
            "the inbox is of epoch {}, not {}",
            inbox.epoch, r.epoch
        )));
    }
    let set = r
        .redealers
        .iter()
        .map(|d| {
            position(r.trustees, d).ok_or_else(|| whole(format!("re-dealer `{d}` is no trustee")))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    let mut after = Vec::with_capacity(set.len());
    let mut dealt = Vec::with_capacity(set.len());
    for (&dealer, name) in set.iter().zip(r.redealers) {
        let expect = Expect {
            seed: r.seed,
            dealer,
            recipient: point,
            threshold: r.threshold,
            trustees: n,
        };
        let (commitment, share) = open_item(params, keypair, expect, &inbox.items, name)
            .map_err(|e| refuse(Some(name), e))?;
        after.push(commitment);
        dealt.push(share);
    }
    let previous = inbox
        .previous
        .iter()
        .map(|c| {
            let bytes = unb64("previous", c).map_err(|e| whole(e.to_string()))?;
            let hash = blake3::hash(&bytes).to_hex().to_string();
            Commitment::from_bytes(params, &bytes)
                .map(|c| (c, hash))
                .map_err(|e| refuse(None, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hashes: Vec<&String> = previous.iter().map(|(_, h)| h).collect();
    if r.previous.is_empty() || hashes != r.previous.iter().collect::<Vec<_>>() {
        return Err(whole(format!(
            "the commitments relayed as the sharing of epoch {} are not those its acceptance \
             entries in the ledger name",
            r.epoch - 1
        )));
    }
    let before: Vec<Commitment> = previous.into_iter().map(|(c, _)| c).collect();
    same_secret(params, &before, &after).map_err(|e| refuse(None, e))?;
    let secret = ThresholdSecret::from_resharing(params, point, r.threshold, n, &set, &dealt)
        .map_err(|e| refuse(None, e))?
        .at_epoch(r.epoch);
    let accepted = after
        .iter()
        .map(|c| blake3::hash(&c.to_bytes()).to_hex().to_string())
        .collect();
    Ok((secret, accepted))
}

/// The commitments' hashes the acceptance entries of the sharing of `epoch` name in the
/// ledger (all of them must name the same list; `None`: no acceptance entry).
pub fn accepted_in_ledger(client: &Client, epoch: u32) -> Result<Option<Vec<String>>, DaemonError> {
    let subject = sharing_subject(epoch);
    let step = EntryKind::CeremonyStep.name();
    let mut named: Option<Vec<String>> = None;
    crate::catchup::pages(client, 0, |page| {
        for e in page.entries.iter().filter(|e| {
            e.kind == step && e.subject == subject && e.detail.contains(ACCEPTANCE_MARK)
        }) {
            match &named {
                Some(n) if *n != e.hashes => {
                    return Err(protocol(format!(
                        "ledger entry {}: names other commitments for the sharing of epoch \
                         {epoch} than an earlier acceptance",
                        e.seq
                    )))
                }
                Some(_) => {}
                None => named = Some(e.hashes.clone()),
            }
        }
        Ok(())
    })?;
    Ok(named)
}

/// Takes part in the latest re-sharing if one is open that this trustee has not accepted
/// (the platform answers `GET /v1/resharing` with 404 before any replacement); returns once
/// it keeps the new threshold secret and the platform recorded its acceptance, or at once
/// when there is nothing to do. Prints the time and the bytes it sent.
pub fn join(
    client: &Client,
    opts: &DaemonOptions,
    params: &Params,
    trustee: &Trustee,
) -> Result<(), DaemonError> {
    let name = trustee.name().to_string();
    let started = Instant::now();
    let wait = waiter(opts, started, "the re-sharing");
    let mut sent = 0usize;
    loop {
        let Some(st): Option<ResharingState> = round_state(client, "/v1/resharing", &name, &wait)?
        else {
            return Ok(());
        };
        if st.progress.accepted.contains(&name) {
            return Ok(());
        }
        let n = st.trustees.len();
        let point = position(&st.trustees, &name)
            .ok_or_else(|| protocol(format!("`{name}` is not a trustee of the re-sharing")))?;
        let kept = if trustee.has_threshold() {
            Some(trustee.threshold_secret(params)?)
        } else {
            None
        };
        match &kept {
            Some(k) if k.threshold != st.threshold || k.trustees != n || k.point != point => {
                return Err(protocol(format!(
                    "the re-sharing is {}-of-{n} at point {point}; this trustee's secret is \
                     {}-of-{} at point {}: refusing it",
                    st.threshold, k.threshold, k.trustees, k.point
                )))
            }
            // Kept in an earlier run, not yet said.
            Some(k) if k.epoch == st.epoch => {
                let inbox: ResharingInbox = client.get_json("/v1/resharing/inbox")?;
                let commitments = redealer_hashes(&inbox, &st.redealers)?;
                let _: ResharingState =
                    client.post_json("/v1/resharing/accept", &DealingAccept { commitments })?;
                continue;
            }
            Some(k) if k.epoch + 1 != st.epoch => {
                return Err(protocol(format!(
                    "the platform runs the re-sharing of epoch {}; this trustee's secret is of \
                     epoch {}",
                    st.epoch, k.epoch
                )))
            }
            Some(_) => {}
            None => check_agreed(opts.threshold, st.threshold, n, false)?,
        }
        let seed = CeremonySeed::from_hex(&st.seed).map_err(crypto)?;
        let file = key_file(opts, st.epoch);
        let kp = recipient_keypair_in(&file)?;
        let mine = b64(&kp.public_key().to_bytes());
        if st.progress.keys.get(&name) != Some(&mine) {
            let _: ResharingState =
                client.post_json("/v1/resharing/key", &DealingKey { key: mine })?;
            eprintln!(
                "trustee {name}: re-sharing epoch {} key published",
                st.epoch
            );
            continue;
        }
        if st.progress.keys.len() < n {
            wait("waiting for every trustee's re-sharing key")?;
            continue;
        }
        if st.redealers.contains(&name) && !st.progress.dealt.contains(&name) {
            let held = kept
                .as_ref()
                .ok_or_else(|| protocol("a re-dealer without a threshold secret"))?;
            let keys = recipient_keys(&st.progress.keys, &st.trustees)?;
            let set = st
                .redealers
                .iter()
                .map(|d| position(&st.trustees, d).ok_or_else(|| protocol("re-dealer")))
                .collect::<Result<Vec<u32>, _>>()?;
            let dealing_started = Instant::now();
            let dealt =
                redeal(params, held, &seed, &set, &keys, &mut rand::rng()).map_err(crypto)?;
            let _: ResharingState =
                client.post_json("/v1/resharing/shares", &dealt.post(&st.trustees))?;
            sent = dealt.bytes();
            eprintln!(
                "trustee {name}: re-dealt its share for epoch {}: {} bytes sent (commitment {} \
                 B, {n} sealed shares) in {:.3} s",
                st.epoch,
                dealt.bytes(),
                dealt.commitment.len(),
                dealing_started.elapsed().as_secs_f64()
            );
            continue;
        }
        if st.progress.dealt.len() < st.redealers.len() {
            wait("waiting for every re-dealer")?;
            continue;
        }
        let inbox: ResharingInbox = client.get_json("/v1/resharing/inbox")?;
        let previous = accepted_in_ledger(client, st.epoch - 1)?.ok_or_else(|| {
            protocol(format!(
                "the ledger holds no acceptance of the sharing of epoch {}",
                st.epoch - 1
            ))
        })?;
        let check_started = Instant::now();
        let r = Resharing {
            seed: &seed,
            trustees: &st.trustees,
            redealers: &st.redealers,
            threshold: st.threshold,
            epoch: st.epoch,
            previous: &previous,
        };
        let (secret, commitments) = accept_reshared(params, &kp, r, &name, &inbox)?;
        let checked = check_started.elapsed().as_secs_f64();
        trustee.keep_threshold(params, &secret)?;
        crate::keystore::remove_served(&file)?;
        let _: ResharingState =
            client.post_json("/v1/resharing/accept", &DealingAccept { commitments })?;
        eprintln!(
            "trustee {name}: checked the {} re-shared shares dealt to it and the re-sharing \
             against epoch {}; threshold secret of epoch {} kept, the old one deleted; \
             re-sharing took {:.3} s (check {checked:.3} s), {sent} bytes sent",
            st.redealers.len(),
            st.epoch - 1,
            st.epoch,
            started.elapsed().as_secs_f64()
        );
    }
}

/// blake3 (hex) of each re-dealer's commitment in `inbox`, in re-dealer order.
fn redealer_hashes(
    inbox: &ResharingInbox,
    redealers: &[String],
) -> Result<Vec<String>, DaemonError> {
    let as_dealing = dtfhe_api::dealing::DealingInbox {
        items: inbox.items.clone(),
    };
    crate::dealing::commitment_hashes(&as_dealing, redealers)
        .ok_or_else(|| protocol("the platform's re-sharing inbox lacks a re-dealer"))
}

/// The epoch of the re-sharing the platform runs now, if it is one this trustee has not
/// accepted yet (the review loop then stops and the daemon takes part).
pub fn pending_epoch(client: &Client, trustee: &Trustee) -> Result<Option<u32>, DaemonError> {
    match client.get_json::<ResharingState>("/v1/resharing") {
        Ok(st) if !st.progress.accepted.iter().any(|a| a == trustee.name()) => Ok(Some(st.epoch)),
        Ok(_) => Ok(None),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The trustees of the key ceremony, given the list `now`: `now` with every
/// `trustee_replaced` entry of the ledger undone, last first (`now` itself when none was
/// replaced). A trustee checks the deployment's keys against the ceremony's messages, which
/// are of the ceremony's trustees, not of a trustee that joined later.
pub fn ceremony_trustees(client: &Client, now: &[String]) -> Result<Vec<String>, DaemonError> {
    let replaced = EntryKind::TrusteeReplaced.name();
    let mut entries = Vec::new();
    crate::catchup::pages(client, 0, |page| {
        for e in page.entries.iter().filter(|e| e.kind == replaced) {
            entries.push(dtfhe_ledger::Entry {
                seq: e.seq,
                time_unix: e.time_unix,
                kind: EntryKind::TrusteeReplaced,
                actor: e.actor.clone(),
                subject: e.subject.clone(),
                detail: String::new(),
                hashes: Vec::new(),
            });
        }
        Ok(())
    })?;
    dtfhe_ledger::membership::created(now, &entries)
        .map_err(|e| protocol(format!("the ledger's trustee replacements: {e}")))
}
