//! What a trustee keeps so that a restart between the rounds of the relinearisation-key
//! protocol finishes the ceremony with the same keys: the ephemeral round secret `u` (drawn
//! for this ceremony only, needed for round 2) and the messages it gave, so that the very
//! same messages are sent again. A server that accepted a round-1 share holds the trustee to
//! it: a fresh `u` would need a fresh round-1 share, which the server refuses (one share per
//! trustee), and the ceremony could not finish.
//!
//! The record lives only in that trustee's own 0600 file, inside the checksummed secret-file
//! envelope (`dtfhe_model::secret_file`, which catches damage on disk); it is never sent.
//!
//! ```text
//! codec envelope: "DTFH" | format version | kind 9 | parameter fingerprint (8) | length | payload
//! payload:        ceremony id (16) | stage (1) | ...
//!   stage 1 (round 1 given):  u (N signed bytes, each |c| ≤ 2·variance) | round-1 message
//!   stage 2 (round 2 given):  round-1 message | round-2 message
//! message:        u32 LE length | the message's own wire form (with its own checksum)
//! ```
//!
//! The secret-key share is not in the record (it stays in `share.key`). On resume the record
//! is checked against it: the round-1 message must be `h1 = a·s + e` for the share `s` and,
//! at stage 1, `h0 = −a·u + w·s + e` for the recorded `u`, with small errors `e`. So a record
//! made with another share, or a recorded secret that changed, is refused before any message
//! is sent again. Once round 2 is given, `u` is wiped from the record (stage 2 keeps only
//! the two public messages).

use super::{
    check_binding, ctx0, in_ntt, secret_poly, small_everywhere, variance, CeremonyId, CeremonySeed,
    Reader, RelinParty, Rlk1Msg, Rlk2Msg, Stage, PK_SHARE_ERROR_FACTOR,
};
use crate::codec::{self, Kind};
use crate::error::CryptoError;
use crate::params::Params;
use fhe::bfv::SecretKey;
use fhe_math::rns::RnsContext;
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use std::fmt;
use zeroize::Zeroizing;

const KIND: Kind = Kind::CeremonyProgress;

/// How far a trustee got in the relinearisation-key protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProgressStage {
    /// Round 1 produced (and kept before it was sent): round 2 still needs the secret `u`.
    Round1Given = 1,
    /// Round 2 produced too: only the two messages are kept, to send them again if needed.
    Round2Given = 2,
}

/// What the record holds besides the round-1 message.
enum Held {
    /// The ephemeral secret's coefficients (power basis, centred).
    Round1 { u: Zeroizing<Vec<i8>> },
    /// The round-2 message.
    Round2 { round2: Rlk2Msg },
}

/// A trustee's record of its progress in the relinearisation-key protocol of one ceremony
/// (see the module documentation). Made by [`RelinParty::progress`] right after round 1 and
/// by [`RelinProgress::round2_given`] right after round 2, each time before the message is
/// sent; read back with [`RelinProgress::from_bytes`] and [`RelinProgress::resume`].
pub struct RelinProgress {
    fingerprint: [u8; 8],
    ceremony: CeremonyId,
    round1: Rlk1Msg,
    held: Held,
}

impl fmt::Debug for RelinProgress {
    /// Never the secret: the ceremony and the stage only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelinProgress")
            .field("ceremony", &self.ceremony)
            .field("stage", &self.stage())
            .finish_non_exhaustive()
    }
}

/// A trustee's side of the protocol rebuilt from its record ([`RelinProgress::resume`]).
#[derive(Debug)]
pub enum Resumed {
    /// Round 1 was given: the party, ready for round 2, and the round-1 message to send
    /// again if the server lost it.
    AwaitingAggregate {
        /// The party, at round 2, with the recorded `u`.
        party: Box<RelinParty>,
        /// The round-1 message it gave.
        round1: Rlk1Msg,
    },
    /// Both rounds were given: the messages to send again if the server lost them.
    Finished {
        /// The round-1 message it gave.
        round1: Rlk1Msg,
        /// The round-2 message it gave.
        round2: Rlk2Msg,
    },
}

/// The largest coefficient of an ephemeral secret under `variance` (centred binomial).
fn u_bound(variance: usize) -> u64 {
    2 * variance as u64
}

impl RelinParty {
    /// The record to keep (in the trustee's 0600 file) once round 1 is produced and before
    /// it is sent: with it, a restarted trustee sends the same round-1 message again and
    /// computes round 2 with the same `u`.
    pub fn progress(&self, round1: &Rlk1Msg) -> Result<RelinProgress, CryptoError> {
        if self.stage != Stage::Round2 {
            return Err(CryptoError::Ceremony(
                "a progress record is made between round 1 and round 2 only".into(),
            ));
        }
        check_binding(
            KIND.name(),
            &self.params,
            &self.ceremony,
            round1.fingerprint,
            round1.ceremony,
        )?;
        let mut pb = Zeroizing::new(self.u.as_ref().clone());
        pb.change_representation(Representation::PowerBasis);
        let q = ctx0(&self.params)?.moduli()[0];
        let bound = u_bound(self.variance);
        let mut u = Zeroizing::new(Vec::with_capacity(self.params.slots()));
        if let Some(row) = pb.coefficients().outer_iter().next() {
            for &c in row.iter() {
                let magnitude = c.min(q - c);
                if magnitude > bound || magnitude > i8::MAX as u64 {
                    return Err(CryptoError::Ceremony(
                        "the ephemeral secret is not small: cannot record it".into(),
                    ));
                }
                let v = magnitude as i8;
                u.push(if c > q / 2 { -v } else { v });
            }
        }
        Ok(RelinProgress {
            fingerprint: self.params.spec.fingerprint(),
            ceremony: self.ceremony,
            round1: round1.clone(),
            held: Held::Round1 { u },
        })
    }
}

impl RelinProgress {
    /// The record to keep once round 2 is produced and before it is sent (the secret `u` is
    /// no longer needed and is not kept).
    pub fn round2_given(round1: Rlk1Msg, round2: Rlk2Msg) -> Result<RelinProgress, CryptoError> {
        if round1.ceremony != round2.ceremony || round1.fingerprint != round2.fingerprint {
            return Err(CryptoError::Mismatch {
                what: KIND.name(),
                reason: format!(
                    "the round-2 message belongs to ceremony {}, the round-1 message to {}",
                    round2.ceremony, round1.ceremony
                ),
            });
        }
        Ok(RelinProgress {
            fingerprint: round1.fingerprint,
            ceremony: round1.ceremony,
            round1,
            held: Held::Round2 { round2 },
        })
    }

    /// The ceremony this record belongs to.
    pub fn ceremony_id(&self) -> CeremonyId {
        self.ceremony
    }

    /// How far the trustee got.
    pub fn stage(&self) -> ProgressStage {
        match self.held {
            Held::Round1 { .. } => ProgressStage::Round1Given,
            Held::Round2 { .. } => ProgressStage::Round2Given,
        }
    }

    /// The round-1 message the trustee gave.
    pub fn round1(&self) -> &Rlk1Msg {
        &self.round1
    }

    /// The round-2 message the trustee gave, at stage 2.
    pub fn round2(&self) -> Option<&Rlk2Msg> {
        match &self.held {
            Held::Round1 { .. } => None,
            Held::Round2 { round2 } => Some(round2),
        }
    }

    /// The stored form (see the module documentation); zeroized on drop, since at stage 1
    /// it holds the ephemeral secret.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let round1 = self.round1.to_bytes();
        let round2 = match &self.held {
            Held::Round1 { .. } => None,
            Held::Round2 { round2 } => Some(round2.to_bytes()),
        };
        let u_len = match &self.held {
            Held::Round1 { u } => u.len(),
            Held::Round2 { .. } => 0,
        };
        // Sized exactly, so the buffer holding the secret is never reallocated (a
        // reallocation would leave a copy behind that is not zeroized).
        let len = 16 + 1 + u_len + 4 + round1.len() + round2.as_ref().map_or(0, |b| 4 + b.len());
        let mut body = Zeroizing::new(Vec::with_capacity(len));
        body.extend_from_slice(&self.ceremony.0);
        body.push(self.stage() as u8);
        if let Held::Round1 { u } = &self.held {
            body.extend(u.iter().map(|&c| c as u8));
        }
        for m in std::iter::once(&round1).chain(round2.as_ref()) {
            body.extend_from_slice(&(m.len() as u32).to_le_bytes());
            body.extend_from_slice(m);
        }
        Zeroizing::new(codec::seal_with_fingerprint(KIND, self.fingerprint, &body))
    }

    /// Decode and check against `params`: the envelope, the stage, every coefficient of the
    /// secret small, both messages well formed and of the record's ceremony, nothing left
    /// over. Errors name the field, never a coefficient's value.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<RelinProgress, CryptoError> {
        let payload = codec::open(KIND, params, bytes)?;
        let mut r = Reader {
            what: KIND.name(),
            cur: dtfhe_model::cursor::ByteCursor::new(payload),
        };
        let ceremony = r.ceremony()?;
        let stage = r.array::<1>("stage")?[0];
        let u = match stage {
            1 => {
                let bound = u_bound(variance(params)?);
                let raw = r.take(params.slots(), "ephemeral secret")?;
                if let Some(j) = raw
                    .iter()
                    .position(|&b| u64::from((b as i8).unsigned_abs()) > bound)
                {
                    return Err(r.malformed(
                        "ephemeral secret",
                        format!("coefficient {j} is out of the range a secret is drawn from"),
                    ));
                }
                Some(Zeroizing::new(raw.iter().map(|&b| b as i8).collect()))
            }
            2 => None,
            other => {
                return Err(r.malformed(
                    "stage",
                    format!("{other}, expected 1 (round 1 given) or 2 (round 2 given)"),
                ))
            }
        };
        let round1 = {
            let b = message(&mut r, "round-1 message")?;
            Rlk1Msg::from_bytes(params, b).map_err(|e| r.malformed("round-1 message", e))?
        };
        let held = match u {
            Some(u) => Held::Round1 { u },
            None => {
                let b = message(&mut r, "round-2 message")?;
                let round2 = Rlk2Msg::from_bytes(params, b)
                    .map_err(|e| r.malformed("round-2 message", e))?;
                Held::Round2 { round2 }
            }
        };
        r.finish()?;
        let record = RelinProgress {
            fingerprint: params.spec.fingerprint(),
            ceremony,
            round1,
            held,
        };
        let inner = [
            Some(record.round1.ceremony),
            record.round2().map(|m| m.ceremony),
        ];
        if let Some(other) = inner.into_iter().flatten().find(|c| *c != ceremony) {
            return Err(CryptoError::Mismatch {
                what: KIND.name(),
                reason: format!(
                    "it holds a message of ceremony {other}, the record is of ceremony {ceremony}"
                ),
            });
        }
        Ok(record)
    }

    /// Rebuilds this trustee's side of the protocol of the ceremony `seed` from the record,
    /// after checking the record belongs to that ceremony and was made with `sk_share` (and,
    /// at stage 1, with the recorded `u`; see the module documentation). Cheap: 2 polynomial
    /// products per ciphertext modulus.
    pub fn resume(
        self,
        params: &Params,
        sk_share: &SecretKey,
        seed: &CeremonySeed,
    ) -> Result<Resumed, CryptoError> {
        let what = KIND.name();
        check_binding(what, params, &seed.id(), self.fingerprint, self.ceremony)?;
        let RelinProgress { round1, held, .. } = self;
        let variance = variance(params)?;
        let bound = PK_SHARE_ERROR_FACTOR * (variance as u64).max(1);
        let s = secret_poly(params, sk_share)?;
        let s_ntt = in_ntt(&s);
        let crps = seed.relin_crp_polys(params)?;
        let not_ours = |half: &str| CryptoError::Mismatch {
            what,
            reason: format!(
                "its round-1 message ({half}) was not made from this trustee's key share{}",
                if half == "h0" {
                    " and the recorded ephemeral secret"
                } else {
                    ""
                }
            ),
        };
        // h1_i − a_i·s must be a small error.
        for (a, h1) in crps.iter().zip(&round1.h1) {
            let mut a_s = Zeroizing::new(a.clone());
            a_s.disallow_variable_time_computations();
            *a_s *= s_ntt.as_ref();
            let mut e = Zeroizing::new(h1.clone());
            *e -= a_s.as_ref();
            if !small_everywhere(params, &e, bound)? {
                return Err(not_ours("h1"));
            }
        }
        let u = match held {
            Held::Round2 { round2 } => return Ok(Resumed::Finished { round1, round2 }),
            Held::Round1 { u } => u,
        };
        let wide: Zeroizing<Vec<i64>> = Zeroizing::new(u.iter().map(|&c| i64::from(c)).collect());
        let mut u = Zeroizing::new(Poly::try_convert_from(
            wide.as_slice(),
            ctx0(params)?,
            false,
            Representation::PowerBasis,
        )?);
        u.change_representation(Representation::Ntt);
        // h0_i + a_i·u − w_i·s must be a small error.
        let rns = RnsContext::new(&params.spec.moduli)?;
        for (i, (a, h0)) in crps.iter().zip(&round1.h0).enumerate() {
            let w = rns
                .get_garner(i)
                .ok_or_else(|| CryptoError::Fhe(format!("no CRT coefficient for modulus {i}")))?;
            let mut w_s = Zeroizing::new(w * s.as_ref());
            w_s.change_representation(Representation::Ntt);
            let mut a_u = Zeroizing::new(a.clone());
            a_u.disallow_variable_time_computations();
            *a_u *= u.as_ref();
            let mut e = Zeroizing::new(h0.clone());
            *e += a_u.as_ref();
            *e -= w_s.as_ref();
            if !small_everywhere(params, &e, bound)? {
                return Err(not_ours("h0"));
            }
        }
        let party = RelinParty {
            params: params.clone(),
            ceremony: seed.id(),
            variance,
            s,
            s_ntt,
            u,
            crps,
            stage: Stage::Round2,
        };
        Ok(Resumed::AwaitingAggregate {
            party: Box::new(party),
            round1,
        })
    }
}

/// One length-prefixed message of the record.
fn message<'a>(r: &mut Reader<'a>, field: &str) -> Result<&'a [u8], CryptoError> {
    let len = r.u32(field)? as usize;
    r.take(len, field)
}
