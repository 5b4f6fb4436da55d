//! The dealt share as it travels: a versioned plaintext message, HPKE-sealed to the
//! recipient trustee's key with the dealer, recipient and ceremony in `info` and the
//! dealer's commitment digest as associated data, so the relaying platform can neither
//! open it nor move it to another recipient, dealing or commitment.

use super::commit::Commitment;
use super::{
    check_header, check_layout, check_point, check_threshold, malformed, put_fields_and_residues,
    residues_of, RnsSecret,
};
use crate::ceremony::net::CeremonySeed;
use crate::error::CryptoError;
use crate::params::Params;
use crate::seal::{self, RecipientKeyPair, RecipientPublicKey};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

/// Format version byte of [`DealtShare::to_bytes`].
pub const DEALT_SHARE_VERSION: u8 = 1;
/// HPKE `info` prefix of a sealed dealt share.
pub const SEAL_INFO: &[u8] = b"DigitalThreadFHE 2026 threshold dealt share v1";
const HEADER_LEN: usize = 1 + 8 + 16 + 2 + 2 + 2 + 2 + 1 + 4;

/// One dealt share f_dealer(recipient), with the facts that place it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealtShare {
    /// The ceremony (its id) this dealing belongs to.
    pub ceremony: [u8; 16],
    /// The dealer's point.
    pub dealer: u32,
    /// The recipient's point.
    pub recipient: u32,
    /// t.
    pub threshold: usize,
    /// n.
    pub trustees: usize,
    /// f_dealer(recipient) (secret).
    pub share: RnsSecret,
}

impl DealtShare {
    /// Versioned wire form: `[1][params fingerprint 8][ceremony id 16][dealer u16]
    /// [recipient u16][t u16][n u16][moduli u8][N u32][moduli × N × u64 LE]` (zeroized).
    pub fn to_bytes(&self, params: &Params) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            HEADER_LEN + self.share.residues().len() * 8,
        ));
        out.push(DEALT_SHARE_VERSION);
        out.extend_from_slice(&params.spec.fingerprint());
        out.extend_from_slice(&self.ceremony);
        let fields = [
            self.dealer as usize,
            self.recipient as usize,
            self.threshold,
            self.trustees,
        ];
        put_fields_and_residues(&mut out, params, &fields, self.share.residues());
        out
    }

    /// Decode outside bytes (after opening the seal) and check them against the parameters.
    /// Never panics; the error never carries a residue.
    pub fn from_bytes(params: &Params, bytes: &[u8]) -> Result<DealtShare, CryptoError> {
        const WHAT: &str = "dealt share";
        let mal = malformed(WHAT);
        check_header(params, bytes, WHAT, DEALT_SHARE_VERSION, HEADER_LEN)?;
        let mut ceremony = [0u8; 16];
        ceremony.copy_from_slice(&bytes[9..25]);
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
        let (dealer, recipient, threshold, trustees) =
            (u16_at(25), u16_at(27), u16_at(29), u16_at(31));
        check_threshold(threshold, trustees).map_err(|e| mal(e.to_string()))?;
        check_point(dealer as u32, trustees).map_err(|e| mal(e.to_string()))?;
        check_point(recipient as u32, trustees).map_err(|e| mal(e.to_string()))?;
        let (k, n) = check_layout(params, bytes, 33, WHAT)?;
        let body = &bytes[HEADER_LEN..];
        if body.len() != k * n * 8 {
            return Err(mal(format!(
                "expected {} residue bytes, found {}",
                k * n * 8,
                body.len()
            )));
        }
        let share = RnsSecret::from_residues(params, residues_of(body))?;
        Ok(DealtShare {
            ceremony,
            dealer: dealer as u32,
            recipient: recipient as u32,
            threshold,
            trustees,
            share,
        })
    }
}

fn info(ceremony: &[u8; 16], dealer: u32, recipient: u32) -> Vec<u8> {
    let mut info = SEAL_INFO.to_vec();
    info.extend_from_slice(ceremony);
    info.extend_from_slice(&(dealer as u16).to_le_bytes());
    info.extend_from_slice(&(recipient as u16).to_le_bytes());
    info
}

/// Seal `share` to the recipient's key, bound to `commitment` (its digest is the AAD).
pub fn seal_share<R: RngCore + CryptoRng>(
    params: &Params,
    recipient_key: &RecipientPublicKey,
    share: &DealtShare,
    commitment: &Commitment,
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let plain = share.to_bytes(params);
    seal::seal(
        recipient_key,
        &info(&share.ceremony, share.dealer, share.recipient),
        &commitment.digest(),
        &plain,
        rng,
    )
}

/// What a recipient expects of a sealed dealt share: the dealing it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The ceremony's seed (its id names the dealing; the commitment CRPs derive from it).
    pub seed: &'a CeremonySeed,
    /// The dealer's point.
    pub dealer: u32,
    /// This recipient's point.
    pub recipient: u32,
    /// t.
    pub threshold: usize,
    /// n.
    pub trustees: usize,
}

/// Open a sealed dealt share, check that it is the one expected (ceremony, dealer,
/// recipient, t, n) and that it matches the dealer's public `commitment`.
pub fn open_share(
    params: &Params,
    keypair: &RecipientKeyPair,
    expect: Expect<'_>,
    commitment: &Commitment,
    sealed: &[u8],
) -> Result<RnsSecret, CryptoError> {
    let ceremony = expect.seed.id().0;
    let plain = Zeroizing::new(seal::open(
        keypair,
        &info(&ceremony, expect.dealer, expect.recipient),
        &commitment.digest(),
        sealed,
    )?);
    let share = DealtShare::from_bytes(params, &plain)?;
    let facts = (
        share.ceremony,
        share.dealer,
        share.recipient,
        share.threshold,
        share.trustees,
    );
    let wanted = (
        ceremony,
        expect.dealer,
        expect.recipient,
        expect.threshold,
        expect.trustees,
    );
    if facts != wanted
        || commitment.dealer != expect.dealer
        || commitment.threshold != expect.threshold
        || commitment.trustees != expect.trustees
    {
        return Err(CryptoError::Mismatch {
            what: "dealt share",
            reason: format!(
                "expected dealer {} → recipient {} of a {}-of-{} dealing in this ceremony",
                expect.dealer, expect.recipient, expect.threshold, expect.trustees
            ),
        });
    }
    commitment.verify(params, &expect.seed.0, expect.recipient, &share.share)?;
    Ok(share.share)
}

/// Format version byte of [`threshold_secret_to_bytes`] (2: with the sharing's epoch;
/// version 1, written before re-sharing existed, is read as epoch 0).
pub const THRESHOLD_SECRET_VERSION: u8 = 2;
const SECRET_HEADER_LEN_V1: usize = 1 + 8 + 2 + 2 + 2 + 1 + 4;
const SECRET_HEADER_LEN: usize = SECRET_HEADER_LEN_V1 + 4;

/// Stored form of a trustee's threshold secret (only ever inside its 0600 secret file):
/// `[2][params fingerprint 8][epoch u32][point u16][t u16][n u16][moduli u8][N u32]
/// [moduli × N × u64]`.
pub fn threshold_secret_to_bytes(
    params: &Params,
    secret: &super::ThresholdSecret,
) -> Zeroizing<Vec<u8>> {
    let residues = secret.secret().residues();
    let mut out = Zeroizing::new(Vec::with_capacity(SECRET_HEADER_LEN + residues.len() * 8));
    out.push(THRESHOLD_SECRET_VERSION);
    out.extend_from_slice(&params.spec.fingerprint());
    out.extend_from_slice(&secret.epoch.to_le_bytes());
    let fields = [secret.point as usize, secret.threshold, secret.trustees];
    put_fields_and_residues(&mut out, params, &fields, residues);
    out
}

/// Decode [`threshold_secret_to_bytes`] (version 2, or version 1 as epoch 0); never panics,
/// never names a residue.
pub fn threshold_secret_from_bytes(
    params: &Params,
    bytes: &[u8],
) -> Result<super::ThresholdSecret, CryptoError> {
    const WHAT: &str = "threshold secret";
    let (version, header, at) = match bytes.first() {
        Some(1) => (1, SECRET_HEADER_LEN_V1, 9),
        _ => (THRESHOLD_SECRET_VERSION, SECRET_HEADER_LEN, 13),
    };
    check_header(params, bytes, WHAT, version, header)?;
    let epoch = if version == 1 {
        0
    } else {
        u32::from_le_bytes([bytes[9], bytes[10], bytes[11], bytes[12]])
    };
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let (point, threshold, trustees) = (u16_at(at), u16_at(at + 2), u16_at(at + 4));
    let (k, n) = check_layout(params, bytes, at + 6, WHAT)?;
    let body = &bytes[header..];
    if body.len() != k * n * 8 {
        return Err(malformed(WHAT)("wrong length".into()));
    }
    let secret = RnsSecret::from_residues(params, residues_of(body))?;
    Ok(
        super::ThresholdSecret::from_parts(point as u32, threshold, trustees, secret)?
            .at_epoch(epoch),
    )
}
