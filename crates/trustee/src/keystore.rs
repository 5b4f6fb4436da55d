//! The trustee's own directory: `share.key` (mode 0600, in a 0700 directory) holds its
//! secret-key share in the versioned envelope format, inside the checksummed secret-file
//! envelope (`dtfhe_model::secret_file`).
//!
//! **The share is checked before it is used.** Beside it the trustee keeps its part of the
//! key ceremony's public transcript: the ceremony seed (`ceremony-seed.txt`) and the
//! public-key share it gave (`ceremony-pk-share.bin`, `p0 = −a·s + e`). Whenever the share is
//! loaded ([`Trustee::open`]) and again before every answer ([`Trustee::review`],
//! [`Trustee::review_rows`], which re-read the file), `p0 + a·s` must be a small error
//! polynomial ([`dtfhe_crypto::ceremony::net::pk_share_matches`]). A share changed on disk
//! (one flipped byte is enough) fails, and the trustee answers nothing, logs nothing in its
//! share log, and says which file to restore (never any key material).

use crate::shares::{ciphertext_hashes, ShareLog};
use crate::TrusteeError;
use dtfhe_crypto::ceremony::net::{pk_share_matches, CeremonySeed, PkShareMsg};
use dtfhe_crypto::dp::DiscreteLaplace;
use dtfhe_crypto::release::{trustee_full_share, Coeff0Share, FullShare};
use dtfhe_crypto::release::{trustee_share_noised, trustee_share_threshold};
use dtfhe_crypto::threshold::wire::{threshold_secret_from_bytes, threshold_secret_to_bytes};
use dtfhe_crypto::threshold::ThresholdSecret;
use dtfhe_crypto::{ceremony, codec, Params};
use dtfhe_release::rules::{check_request, check_row_request};
use dtfhe_release::{Disclosure, LocalPolicy, Policy, Refusal, ReleaseRequest, RowReleaseRequest};
use fhe::bfv::SecretKey;
use std::fs;
use std::path::{Path, PathBuf};

/// File name of the key share inside a trustee directory.
pub const SHARE_FILE: &str = "share.key";
/// File (in the trustee's directory) keeping the public-key share message this trustee gave
/// (public data): its share is checked against it, and the daemon checks that the
/// deployment's public key includes it.
pub const PK_SHARE_FILE: &str = "ceremony-pk-share.bin";
/// File name of the trustee's t-of-n threshold secret S_j (mode 0600, checksummed secret
/// envelope), written once its dealing is complete; absent in an n-of-n deployment.
pub const THRESHOLD_FILE: &str = "threshold.key";
/// File (in the trustee's directory) listing, one per line, the t-of-n releases this
/// trustee recorded in its disclosure state without taking part ([`Trustee::observe`]).
pub const OBSERVED_FILE: &str = "observed.log";
/// File keeping the seed (hex) of the ceremony this trustee's share took part in (public
/// data): with [`PK_SHARE_FILE`], the record the share is checked against.
pub const CEREMONY_SEED_FILE: &str = "ceremony-seed.txt";

/// Why a trustee's key share cannot be used. The messages name files and checks, never key
/// material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyShareProblem {
    /// The file's envelope or checksum does not check out.
    #[error("is damaged: {0}")]
    Damaged(dtfhe_model::secret_file::SecretFormatError),
    /// The payload does not decode as a key share of these parameters.
    #[error("is damaged: it does not decode as a key share ({0})")]
    Malformed(dtfhe_crypto::CryptoError),
    /// The share is not the secret behind the public-key share this trustee gave.
    #[error(
        "does not match the public-key share this trustee gave in the key ceremony \
         (the file was changed or damaged)"
    )]
    Mismatch,
    /// The ceremony record to check the share against is missing.
    #[error(
        "cannot be checked: there is no ceremony record ({PK_SHARE_FILE}, {CEREMONY_SEED_FILE}) \
         beside it"
    )]
    NoRecord,
    /// The ceremony record is unreadable or damaged.
    #[error("cannot be checked: its ceremony record {file} is unusable ({reason})")]
    Record {
        /// Which record file.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// File (in a trustee's directory) marking a trustee that joined a t-of-n deployment by
/// proactive re-sharing (`dtfhe trustee --join`): it holds a threshold secret only, no n-of-n
/// key share (public data: the deployment's name for it).
pub const JOINED_FILE: &str = "joined.txt";

/// One trustee with its key share loaded (none for a trustee that joined by re-sharing).
pub struct Trustee {
    name: String,
    dir: PathBuf,
    share: Option<SecretKey>,
}

// Never print the share.
dtfhe_model::debug_public_fields!(Trustee, |t| { name: t.name, dir: t.dir });

/// Deletes a round's file that has served (a dealing's recipient key): without it the sealed
/// shares the platform keeps open for nobody.
pub(crate) fn remove_served(path: &Path) -> Result<(), TrusteeError> {
    fs::remove_file(path).map_err(|e| ks_err(path, e))
}

fn ks_err(path: &Path, reason: impl ToString) -> TrusteeError {
    TrusteeError::KeyStore {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl Trustee {
    /// Draw a fresh share and write it to `dir/share.key` (refuses to overwrite one), with
    /// the trustee's policy file (its disclosure mode: audit, or dp with its budget).
    pub fn create(
        dir: &Path,
        name: &str,
        params: &Params,
        policy: &LocalPolicy,
    ) -> Result<Trustee, TrusteeError> {
        let file = dir.join(SHARE_FILE);
        if file.exists() {
            return Err(ks_err(
                &file,
                "a key share already exists; refusing to overwrite it",
            ));
        }
        fs::create_dir_all(dir).map_err(|e| ks_err(dir, e))?;
        restrict(dir, 0o700)?;
        let share = ceremony::new_share(params, &mut rand::rng());
        let bytes = codec::encode_secret_share(params, &share);
        dtfhe_model::secret_file::write_new_secret(&file, &bytes).map_err(|e| ks_err(&file, e))?;
        Disclosure::create(dir, policy).map_err(|source| TrusteeError::Disclosure {
            trustee: name.to_string(),
            source,
        })?;
        Ok(Trustee {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            share: Some(share),
        })
    }

    /// A trustee that joins a t-of-n deployment in place of a departed one (`dtfhe trustee
    /// --join`): its directory with its policy file and the [`JOINED_FILE`] marker, and no
    /// key share. It receives its threshold secret in the next proactive re-sharing and
    /// answers t-of-n releases with it only; anything that needs an n-of-n key share is
    /// refused naming it ([`TrusteeError::Joined`]). Refuses a directory that holds a key
    /// share.
    pub fn join(dir: &Path, name: &str, policy: &LocalPolicy) -> Result<Trustee, TrusteeError> {
        let file = dir.join(SHARE_FILE);
        if file.exists() {
            return Err(ks_err(
                &file,
                "this trustee holds a key share of the key ceremony; a trustee joins by \
                 re-sharing only with a directory of its own",
            ));
        }
        fs::create_dir_all(dir).map_err(|e| ks_err(dir, e))?;
        restrict(dir, 0o700)?;
        if !dir.join(JOINED_FILE).exists() {
            Disclosure::create(dir, policy).map_err(|source| TrusteeError::Disclosure {
                trustee: name.to_string(),
                source,
            })?;
            write_public(&dir.join(JOINED_FILE), format!("{name}\n").as_bytes())?;
        }
        Ok(Trustee {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            share: None,
        })
    }

    /// Whether this trustee joined by re-sharing (no n-of-n key share).
    pub fn joined(&self) -> bool {
        self.share.is_none()
    }

    /// Load the share from `dir/share.key`; refuses a file others can read, a damaged file,
    /// and (once the ceremony record exists) a share that does not match it. A directory
    /// made by [`Trustee::join`] opens without a share.
    pub fn open(dir: &Path, name: &str, params: &Params) -> Result<Trustee, TrusteeError> {
        if dir.join(JOINED_FILE).exists() && !dir.join(SHARE_FILE).exists() {
            return Ok(Trustee {
                name: name.to_string(),
                dir: dir.to_path_buf(),
                share: None,
            });
        }
        let share = read_share(dir, name, params)?;
        let t = Trustee {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            share: Some(share),
        };
        match t.check_share(params, t.share_for_ceremony()?) {
            // Before the ceremony (the daemon's first run) there is nothing to check yet;
            // every answer requires the record (see [`Trustee::verified_share`]).
            Err(TrusteeError::KeyShare {
                problem: KeyShareProblem::NoRecord,
                ..
            }) => Ok(t),
            Err(e) => Err(e),
            Ok(()) => Ok(t),
        }
    }

    /// Keeps this trustee's part of the ceremony transcript (the seed and the public-key
    /// share it gave, both public) beside its share, after checking the message is indeed
    /// made from this share; the share is checked against it from then on.
    pub fn record_ceremony(
        &self,
        params: &Params,
        seed: &CeremonySeed,
        msg: &PkShareMsg,
    ) -> Result<(), TrusteeError> {
        if !pk_share_matches(params, seed, self.share_for_ceremony()?, msg)? {
            return Err(self.key_problem(KeyShareProblem::Mismatch));
        }
        write_public(&self.dir.join(PK_SHARE_FILE), &msg.to_bytes())?;
        write_public(
            &self.dir.join(CEREMONY_SEED_FILE),
            format!("{}\n", seed.to_hex()).as_bytes(),
        )
    }

    /// For a share made before trustees kept a ceremony record (no record at all beside it):
    /// records one now, from a fresh seed of its own, so the share is checked from now on
    /// (damage before this call cannot be detected). Does nothing when a record exists.
    pub fn record_if_missing(&self, params: &Params) -> Result<(), TrusteeError> {
        if self.dir.join(PK_SHARE_FILE).exists() || self.dir.join(CEREMONY_SEED_FILE).exists() {
            return Ok(());
        }
        let mut rng = rand::rng();
        let seed = CeremonySeed::random(&mut rng);
        let msg = dtfhe_crypto::ceremony::net::pk_share(
            params,
            self.share_for_ceremony()?,
            &seed,
            &mut rng,
        )?;
        self.record_ceremony(params, &seed, &msg)
    }

    fn key_problem(&self, problem: KeyShareProblem) -> TrusteeError {
        TrusteeError::KeyShare {
            trustee: self.name.clone(),
            path: self.dir.join(SHARE_FILE).display().to_string(),
            problem,
        }
    }

    /// Checks `share` against this trustee's ceremony record.
    fn check_share(&self, params: &Params, share: &SecretKey) -> Result<(), TrusteeError> {
        let record = |file: &'static str| match fs::read(self.dir.join(file)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.key_problem(KeyShareProblem::Record {
                file,
                reason: e.to_string(),
            })),
        };
        let (Some(msg), Some(seed)) = (record(PK_SHARE_FILE)?, record(CEREMONY_SEED_FILE)?) else {
            return Err(self.key_problem(KeyShareProblem::NoRecord));
        };
        let bad = |file: &'static str, reason: String| {
            self.key_problem(KeyShareProblem::Record { file, reason })
        };
        let msg =
            PkShareMsg::from_bytes(params, &msg).map_err(|e| bad(PK_SHARE_FILE, e.to_string()))?;
        let seed = std::str::from_utf8(&seed)
            .ok()
            .and_then(|s| CeremonySeed::from_hex(s.trim()).ok())
            .ok_or_else(|| bad(CEREMONY_SEED_FILE, "not a ceremony seed".into()))?;
        if msg.ceremony_id() != seed.id() {
            return Err(bad(
                PK_SHARE_FILE,
                "made in another ceremony than the recorded seed".into(),
            ));
        }
        if pk_share_matches(params, &seed, share, &msg)? {
            Ok(())
        } else {
            Err(self.key_problem(KeyShareProblem::Mismatch))
        }
    }

    /// The share as it is on disk now, re-read and checked against the ceremony record: what
    /// every answer uses, so a file damaged while the trustee runs is caught before any
    /// share is computed or logged.
    fn verified_share(&self, params: &Params) -> Result<SecretKey, TrusteeError> {
        self.share_for_ceremony()?;
        let share = read_share(&self.dir, &self.name, params)?;
        self.check_share(params, &share)?;
        Ok(share)
    }

    /// The trustee's name (its factory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this trustee gave a share for every one of `cts` (it took part in their
    /// release): the ledger catch-up asks ([`crate::catchup`]).
    pub fn answered_all(&self, cts: &[crate::shares::Hash]) -> Result<bool, TrusteeError> {
        ShareLog::new(&self.dir).answered_all(cts)
    }

    /// The key share, for this trustee's own steps of the key ceremony and the first
    /// dealing only; refused for a trustee that joined by re-sharing.
    pub fn share_for_ceremony(&self) -> Result<&SecretKey, TrusteeError> {
        self.share.as_ref().ok_or_else(|| TrusteeError::Joined {
            trustee: self.name.clone(),
        })
    }

    /// This trustee's own policy file (disclosure mode, stricter k, identifier filters).
    pub fn disclosure(&self) -> Result<Disclosure, TrusteeError> {
        Disclosure::open(&self.dir).map_err(|source| TrusteeError::Disclosure {
            trustee: self.name.clone(),
            source,
        })
    }

    /// The deployment's rules with this trustee's stricter settings applied.
    pub fn effective_policy(&self, deployment: &Policy) -> Result<Policy, TrusteeError> {
        let local = self.disclosure()?.policy;
        Ok(Policy {
            min_group_size: deployment
                .min_group_size
                .max(local.min_group_size.unwrap_or(0)),
            trustees: deployment.trustees,
            allow_key_filters: deployment.allow_key_filters && local.allow_key_filters,
        })
    }

    fn refuse(&self, reason: Refusal) -> TrusteeError {
        TrusteeError::Refused {
            trustee: self.name.clone(),
            reason,
        }
    }

    /// Check the request against the rules and this trustee's disclosure record; if it
    /// passes, one flooded share per item.
    ///
    /// One share per ciphertext: every share given is first recorded in the trustee's own
    /// log (`shares.log`, see [`crate::shares`]), keyed by the ciphertext's hash; a
    /// ciphertext seen before gets the identical logged share back, never a freshly flooded
    /// one. Before the first new share, the decision is made durable: in audit mode the
    /// released row sets (so a later differencing query is refused), in dp mode the ε
    /// charged to every base dataset; then, in dp mode, the trustee adds its own share of
    /// discrete-Laplace noise (sensitivity = the item's per-row bound, ε split evenly over
    /// the items) to every new total. A repeated ciphertext gets its logged share and
    /// records nothing, since it reveals nothing new.
    pub fn review(
        &self,
        params: &Params,
        deployment: &Policy,
        request: &ReleaseRequest,
    ) -> Result<Vec<Coeff0Share>, TrusteeError> {
        self.review_with(params, deployment, request, None)
    }

    /// [`Trustee::review`] for a t-of-n release by `set` (the points of the t trustees the
    /// platform named, this one among them): the same rules and disclosure decision, then
    /// one share per ciphertext made with this trustee's Lagrange-weighted threshold secret
    /// for that set, flooded for t participants (DP noise: a share of t). A ciphertext this
    /// trustee already answered for another set is refused before any decision is recorded
    /// ([`TrusteeError::OtherSet`]).
    pub fn review_for_set(
        &self,
        params: &Params,
        deployment: &Policy,
        request: &ReleaseRequest,
        set: &[u32],
    ) -> Result<Vec<Coeff0Share>, TrusteeError> {
        self.review_with(params, deployment, request, Some(set))
    }

    fn review_with(
        &self,
        params: &Params,
        deployment: &Policy,
        request: &ReleaseRequest,
        set: Option<&[u32]>,
    ) -> Result<Vec<Coeff0Share>, TrusteeError> {
        let policy = self.effective_policy(deployment)?;
        check_request(params, &policy, request).map_err(|r| self.refuse(r))?;
        let share = match set {
            None => Some(self.verified_share(params)?),
            Some(_) => None,
        };
        let threshold = match set {
            None => None,
            Some(set) => {
                let secret = self.threshold_secret(params)?;
                dtfhe_crypto::threshold::check_set(set, secret.threshold, secret.trustees)?;
                if !set.contains(&secret.point) {
                    return Err(TrusteeError::Crypto(dtfhe_crypto::CryptoError::Mismatch {
                        what: "release set",
                        reason: format!("this trustee (point {}) is not in it", secret.point),
                    }));
                }
                Some((secret, set))
            }
        };
        let parties = set.map_or(policy.trustees, <[u32]>::len);
        let disclosure = self.disclosure()?;
        let hashes = ciphertext_hashes(params, request.items.iter().map(|i| &i.ciphertext));
        let log = ShareLog::new(&self.dir);
        if let Some((secret, set)) = &threshold {
            // One set per ciphertext (and per sharing): refuse before the decision is
            // recorded.
            log.check_set(&hashes, set, secret.epoch)?;
        }
        let decision = disclosure
            .decide(request, policy.min_group_size)
            .map_err(|r| self.refuse(r))?;
        let laws = match decision.epsilon {
            None => None,
            Some(eps) => {
                let per_item = eps / request.items.len().max(1) as f64;
                Some(
                    request
                        .items
                        .iter()
                        .map(|i| DiscreteLaplace::for_epsilon(per_item, i.per_row_bound))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
        };
        let mut rng = rand::rng();
        let record = || {
            disclosure
                .record(decision, &request.release_id)
                .map_err(|source| TrusteeError::Disclosure {
                    trustee: self.name.clone(),
                    source,
                })
        };
        let fresh =
            |k: usize, rng: &mut rand::rngs::ThreadRng| -> Result<Coeff0Share, TrusteeError> {
                let item = &request.items[k];
                let noise = match &laws {
                    Some(l) => l[k].sample_share(parties, rng)?,
                    None => 0,
                };
                Ok(match (&threshold, &share) {
                    (None, Some(share)) => {
                        trustee_share_noised(params, share, &item.ciphertext, parties, noise, rng)?
                    }
                    (None, None) => {
                        return Err(TrusteeError::Joined {
                            trustee: self.name.clone(),
                        })
                    }
                    (Some((secret, set)), _) => {
                        trustee_share_threshold(params, secret, set, &item.ciphertext, noise, rng)?
                    }
                })
            };
        let (shares, _repeated) = match &threshold {
            None => log.coeff0_shares(params, &hashes, record, |k| fresh(k, &mut rng))?,
            Some((secret, set)) => {
                log.coeff0_set_shares(params, &hashes, set, secret.epoch, record, |k| {
                    fresh(k, &mut rng)
                })?
            }
        };
        Ok(shares)
    }

    /// A t-of-n release this trustee took no part in (another set answered it, e.g. while
    /// it was offline): its disclosure decision is recorded all the same (audit mode: the
    /// released row sets; dp mode: the ε charged), so this trustee's audit state includes
    /// every release of the deployment and a later query is judged against all of them. No
    /// share is computed. Once per release id ([`OBSERVED_FILE`]); returns whether it was
    /// recorded now. A release its own rules would have refused is still recorded when they
    /// allow a decision; otherwise the refusal is returned (nothing to record).
    pub fn observe(
        &self,
        deployment: &Policy,
        request: &ReleaseRequest,
    ) -> Result<bool, TrusteeError> {
        if self.observed(&request.release_id) {
            return Ok(false);
        }
        let policy = self.effective_policy(deployment)?;
        let disclosure = self.disclosure()?;
        let outcome = match disclosure.decide(request, policy.min_group_size) {
            Ok(decision) => {
                disclosure
                    .record(decision, &request.release_id)
                    .map_err(|source| TrusteeError::Disclosure {
                        trustee: self.name.clone(),
                        source,
                    })?;
                Ok(true)
            }
            Err(r) => Err(self.refuse(r)),
        };
        let file = self.dir.join(OBSERVED_FILE);
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)
            .map_err(|e| ks_err(&file, e))?;
        std::io::Write::write_all(&mut f, format!("{}\n", request.release_id).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| ks_err(&file, e))?;
        outcome
    }

    /// Whether the release `release_id` was already recorded by [`Trustee::observe`].
    pub fn observed(&self, release_id: &str) -> bool {
        fs::read_to_string(self.dir.join(OBSERVED_FILE))
            .is_ok_and(|t| t.lines().any(|l| l == release_id))
    }

    /// Keep this trustee's threshold secret: the first dealing's (epoch 0), or the one a
    /// proactive re-sharing gave it, which must be of a later epoch than the kept one (a
    /// secret is never overwritten by one of its own or an earlier epoch). The new secret is
    /// written beside the old and renamed over it, so the old one is gone once the new one is
    /// kept (the trustees that stay must delete their old secret, or old shares would still
    /// interpolate to the key).
    pub fn keep_threshold(
        &self,
        params: &Params,
        secret: &ThresholdSecret,
    ) -> Result<(), TrusteeError> {
        let file = self.dir.join(THRESHOLD_FILE);
        if self.has_threshold() {
            let kept = self.threshold_secret(params)?;
            if kept.epoch >= secret.epoch {
                return Err(ks_err(
                    &file,
                    format!(
                        "the kept threshold secret is of epoch {}; refusing to replace it by \
                         one of epoch {}",
                        kept.epoch, secret.epoch
                    ),
                ));
            }
        }
        let next = self.dir.join(format!("{THRESHOLD_FILE}.next"));
        if next.exists() {
            fs::remove_file(&next).map_err(|e| ks_err(&next, e))?;
        }
        let bytes = threshold_secret_to_bytes(params, secret);
        dtfhe_model::secret_file::write_new_secret(&next, &bytes).map_err(|e| ks_err(&next, e))?;
        fs::rename(&next, &file).map_err(|e| ks_err(&file, e))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The epoch of the kept threshold secret (0: the first dealing), if one is kept.
    pub fn threshold_epoch(&self, params: &Params) -> Result<Option<u32>, TrusteeError> {
        if !self.has_threshold() {
            return Ok(None);
        }
        Ok(Some(self.threshold_secret(params)?.epoch))
    }

    /// Whether this trustee holds a threshold secret (a t-of-n deployment, dealing done).
    pub fn has_threshold(&self) -> bool {
        self.dir.join(THRESHOLD_FILE).exists()
    }

    /// The threshold secret as it is on disk now (checksummed envelope, versioned payload).
    pub fn threshold_secret(&self, params: &Params) -> Result<ThresholdSecret, TrusteeError> {
        let file = self.dir.join(THRESHOLD_FILE);
        let bytes = dtfhe_model::secret_file::read_secret(&file).map_err(|e| ks_err(&file, e))?;
        threshold_secret_from_bytes(params, &bytes).map_err(|e| ks_err(&file, e))
    }

    /// Per-row release: only if every chunk belongs to the recipient; one flooded full
    /// share per chunk, logged before it is returned and repeated identically for a
    /// ciphertext seen before (see [`Trustee::review`]).
    pub fn review_rows(
        &self,
        params: &Params,
        policy: &Policy,
        request: &RowReleaseRequest,
    ) -> Result<Vec<FullShare>, TrusteeError> {
        check_row_request(params, policy, request).map_err(|r| self.refuse(r))?;
        let share = self.verified_share(params)?;
        let hashes = ciphertext_hashes(params, request.items.iter().map(|i| &i.ciphertext));
        let mut rng = rand::rng();
        let (shares, _repeated) = ShareLog::new(&self.dir).full_shares(params, &hashes, |k| {
            Ok(trustee_full_share(
                params,
                &share,
                &request.items[k].ciphertext,
                policy.trustees,
                &mut rng,
            )?)
        })?;
        Ok(shares)
    }
}

/// Reads `dir/share.key`: refuses a file others can read, a damaged envelope, a payload
/// that is not a key share of `params`.
fn read_share(dir: &Path, name: &str, params: &Params) -> Result<SecretKey, TrusteeError> {
    let file = dir.join(SHARE_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(&file).map_err(|e| ks_err(&file, e))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ks_err(
                &file,
                format!("mode {mode:o} lets others read the key share; expected 600"),
            ));
        }
    }
    let problem = |problem| TrusteeError::KeyShare {
        trustee: name.to_string(),
        path: file.display().to_string(),
        problem,
    };
    let bytes = dtfhe_model::secret_file::read_secret(&file).map_err(|e| match e {
        dtfhe_model::secret_file::SecretFileError::Damaged(d) => {
            problem(KeyShareProblem::Damaged(d))
        }
        other => ks_err(&file, other),
    })?;
    codec::decode_secret_share(params, &bytes).map_err(|e| problem(KeyShareProblem::Malformed(e)))
}

/// Writes a public file of the trustee's directory (temporary file, fsync, rename).
pub(crate) fn write_public(path: &Path, bytes: &[u8]) -> Result<(), TrusteeError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| ks_err(path, e))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), TrusteeError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| ks_err(path, e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<(), TrusteeError> {
    Ok(())
}
