//! The trustee's own directory: `share.key` (mode 0600, in a 0700 directory) holds its
//! secret-key share in the versioned envelope format.

use crate::shares::{ciphertext_hashes, ShareLog};
use crate::TrusteeError;
use dtfhe_crypto::dp::DiscreteLaplace;
use dtfhe_crypto::release::trustee_share_noised;
use dtfhe_crypto::release::{trustee_full_share, Coeff0Share, FullShare};
use dtfhe_crypto::{ceremony, codec, Params};
use dtfhe_release::rules::{check_request, check_row_request};
use dtfhe_release::{Disclosure, LocalPolicy, Policy, Refusal, ReleaseRequest, RowReleaseRequest};
use fhe::bfv::SecretKey;
use std::fs;
use std::path::{Path, PathBuf};

/// File name of the key share inside a trustee directory.
pub const SHARE_FILE: &str = "share.key";

/// One trustee with its key share loaded.
pub struct Trustee {
    name: String,
    dir: PathBuf,
    share: SecretKey,
}

// Never print the share.
dtfhe_model::debug_public_fields!(Trustee, |t| { name: t.name, dir: t.dir });

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
            share,
        })
    }

    /// Load the share from `dir/share.key`; refuses a file others can read.
    pub fn open(dir: &Path, name: &str, params: &Params) -> Result<Trustee, TrusteeError> {
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
        let bytes = zeroize::Zeroizing::new(fs::read(&file).map_err(|e| ks_err(&file, e))?);
        let share = codec::decode_secret_share(params, &bytes).map_err(|e| ks_err(&file, e))?;
        Ok(Trustee {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            share,
        })
    }

    /// The trustee's name (its factory).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key share, for this trustee's own steps of the key ceremony only.
    pub fn share_for_ceremony(&self) -> &SecretKey {
        &self.share
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
        let policy = self.effective_policy(deployment)?;
        check_request(params, &policy, request).map_err(|r| self.refuse(r))?;
        let disclosure = self.disclosure()?;
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
        let hashes = ciphertext_hashes(params, request.items.iter().map(|i| &i.ciphertext));
        let mut rng = rand::rng();
        let record = || {
            disclosure
                .record(decision, &request.release_id)
                .map_err(|source| TrusteeError::Disclosure {
                    trustee: self.name.clone(),
                    source,
                })
        };
        let (shares, _repeated) =
            ShareLog::new(&self.dir).coeff0_shares(params, &hashes, record, |k| {
                let item = &request.items[k];
                let noise = match &laws {
                    Some(l) => l[k].sample_share(policy.trustees, &mut rng)?,
                    None => 0,
                };
                Ok(trustee_share_noised(
                    params,
                    &self.share,
                    &item.ciphertext,
                    policy.trustees,
                    noise,
                    &mut rng,
                )?)
            })?;
        Ok(shares)
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
        let hashes = ciphertext_hashes(params, request.items.iter().map(|i| &i.ciphertext));
        let mut rng = rand::rng();
        let (shares, _repeated) = ShareLog::new(&self.dir).full_shares(params, &hashes, |k| {
            Ok(trustee_full_share(
                params,
                &self.share,
                &request.items[k].ciphertext,
                policy.trustees,
                &mut rng,
            )?)
        })?;
        Ok(shares)
    }
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
