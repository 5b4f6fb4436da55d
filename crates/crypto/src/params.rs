//! BFV parameter presets and their validation.
//!
//! Only a few named presets exist, each within the HE-standard 128-bit security bounds for
//! ternary/small secrets. A custom [`ParamSpec`] (from a file or a blob) is validated with
//! exactly the same rules, and refused with a message saying which rule it breaks.

use crate::error::CryptoError;
use fhe::bfv::{BfvParameters, BfvParametersBuilder};
use std::sync::Arc;

/// Largest total ciphertext-modulus size (bits) for 128-bit security, per ring degree
/// (HomomorphicEncryption.org standard, classical, uniform/ternary secret).
const HE_STANDARD_128: &[(usize, u32)] = &[
    (1024, 27),
    (2048, 54),
    (4096, 109),
    (8192, 218),
    (16384, 438),
    (32768, 881),
];

/// A named, vetted parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// N = 16384, 5 × 60-bit moduli (300 bits), 50-bit t. The default: enough noise room to
    /// flood the release of masked (WHERE / GROUP BY) sums of products with 2^40 margin.
    Bfv16384,
    /// N = 8192, 4 × 54-bit moduli (216 bits), 50-bit t. Faster and smaller, but its noise
    /// room only covers unmasked products: masked products are refused by the noise check.
    Bfv8192,
}

impl Preset {
    /// Every preset, default first.
    pub const ALL: [Preset; 2] = [Preset::Bfv16384, Preset::Bfv8192];

    /// The name used on the command line and in the store.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Bfv16384 => "bfv-16384",
            Preset::Bfv8192 => "bfv-8192",
        }
    }

    /// Look a preset up by name.
    pub fn from_name(name: &str) -> Result<Preset, CryptoError> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| CryptoError::UnknownPreset {
                name: name.to_string(),
                known: Preset::ALL.map(|p| p.name()).join(", "),
            })
    }

    /// The raw numbers of this preset.
    pub fn spec(self) -> ParamSpec {
        match self {
            Preset::Bfv16384 => ParamSpec {
                degree: 16384,
                moduli: vec![
                    0xffffffffffe8001,
                    0xffffffffffd8001,
                    0xffffffffffc0001,
                    0xffffffffff28001,
                    0xfffffffffe38001,
                ],
                plaintext: 1125899904679937,
            },
            Preset::Bfv8192 => ParamSpec {
                degree: 8192,
                moduli: vec![
                    0x3fffffffef8001,
                    0x3fffffffeb8001,
                    0x3fffffffe7c001,
                    0x3fffffffe64001,
                ],
                plaintext: 1125899906826241,
            },
        }
    }

    /// Validated, ready-to-use parameters.
    pub fn params(self) -> Result<Params, CryptoError> {
        Params::new(self.name(), self.spec())
    }
}

/// The numbers that define a BFV parameter set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// Ring degree N (number of SIMD slots).
    pub degree: usize,
    /// Ciphertext moduli q_i (NTT-friendly primes).
    pub moduli: Vec<u64>,
    /// Plaintext modulus t.
    pub plaintext: u64,
}

impl ParamSpec {
    /// Check every rule; `insecure` skips only the 128-bit size bound (for experiments).
    pub fn validate(&self, insecure: bool) -> Result<(), CryptoError> {
        let bad = |m: String| Err(CryptoError::InvalidParameters(m));
        let n = self.degree;
        if !n.is_power_of_two() || !(1024..=32768).contains(&n) {
            return bad(format!(
                "degree N = {n} must be a power of two in 1024..=32768"
            ));
        }
        if self.moduli.is_empty() || self.moduli.len() > 15 {
            return bad(format!(
                "{} ciphertext moduli given; 1..=15 allowed",
                self.moduli.len()
            ));
        }
        let two_n = 2 * n as u64;
        let t = self.plaintext;
        if t < 2 || !is_prime(t) {
            return bad(format!("plaintext modulus t = {t} is not prime"));
        }
        if t % two_n != 1 {
            return bad(format!(
                "plaintext modulus t = {t} is not 1 mod 2N = {two_n}: SIMD slots need it"
            ));
        }
        let mut log_q = 0f64;
        for (i, &q) in self.moduli.iter().enumerate() {
            if q >> 62 != 0 {
                return bad(format!("modulus q{i} = {q} exceeds 62 bits"));
            }
            if !is_prime(q) || q % two_n != 1 {
                return bad(format!(
                    "modulus q{i} = {q} is not a prime congruent to 1 mod 2N = {two_n}"
                ));
            }
            if q == t {
                return bad(format!("modulus q{i} equals the plaintext modulus t = {t}"));
            }
            if q < t {
                return bad(format!(
                    "modulus q{i} = {q} is smaller than the plaintext modulus t = {t}"
                ));
            }
            if self.moduli[..i].contains(&q) {
                return bad(format!("modulus q{i} = {q} is repeated"));
            }
            log_q += (q as f64).log2();
        }
        let bound = HE_STANDARD_128
            .iter()
            .find(|(d, _)| *d == n)
            .map(|(_, b)| *b)
            .unwrap_or(0);
        if !insecure && log_q.ceil() as u32 > bound {
            return bad(format!(
                "log2(Q) = {log_q:.1} bits exceeds the 128-bit security bound of {bound} bits for N = {n} (use --insecure only for experiments)"
            ));
        }
        if (log_q as u32) < 2 * (64 - t.leading_zeros()) + 40 {
            return bad(format!(
                "log2(Q) = {log_q:.1} leaves no noise room above t = {t}"
            ));
        }
        Ok(())
    }

    /// Versioned binary form: `[1][degree u32][t u64][k u8][q_i u64 …]`, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&(self.degree as u32).to_le_bytes());
        out.extend_from_slice(&self.plaintext.to_le_bytes());
        out.push(self.moduli.len() as u8);
        for q in &self.moduli {
            out.extend_from_slice(&q.to_le_bytes());
        }
        out
    }

    /// Decode the binary form (does not validate; call [`ParamSpec::validate`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<ParamSpec, CryptoError> {
        let mal = |r: &str| CryptoError::Malformed {
            what: "parameter blob",
            reason: r.to_string(),
        };
        let (&version, rest) = bytes.split_first().ok_or_else(|| mal("empty"))?;
        if version != 1 {
            return Err(mal(&format!("unknown format version {version}")));
        }
        if rest.len() < 13 {
            return Err(mal("truncated header"));
        }
        let degree = u32::from_le_bytes(rest[0..4].try_into().map_err(|_| mal("degree"))?) as usize;
        let plaintext = u64::from_le_bytes(rest[4..12].try_into().map_err(|_| mal("t"))?);
        let k = rest[12] as usize;
        let body = &rest[13..];
        if body.len() != 8 * k {
            return Err(mal(&format!(
                "expected {k} moduli ({} bytes), found {} bytes",
                8 * k,
                body.len()
            )));
        }
        let moduli = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        Ok(ParamSpec {
            degree,
            moduli,
            plaintext,
        })
    }

    /// Short fingerprint binding stored objects to these parameters.
    pub fn fingerprint(&self) -> [u8; 8] {
        let h = blake3::hash(&self.to_bytes());
        let mut f = [0u8; 8];
        f.copy_from_slice(&h.as_bytes()[..8]);
        f
    }
}

impl ParamSpec {
    /// Parse a parameter file: `degree = N`, `plaintext = t`, `moduli = [q0, q1, ...]`
    /// (TOML integers). Not validated yet: call [`ParamSpec::validate`].
    pub fn from_toml(text: &str, origin: &str) -> Result<ParamSpec, CryptoError> {
        let bad = |m: String| CryptoError::InvalidParameters(format!("{origin}: {m}"));
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| bad(e.to_string()))?;
        for key in table.keys() {
            if !["degree", "plaintext", "moduli"].contains(&key.as_str()) {
                return Err(bad(format!(
                    "unknown key {key:?} (expected degree, plaintext, moduli)"
                )));
            }
        }
        let int = |v: Option<&toml::Value>, key: &str| -> Result<u64, CryptoError> {
            match v {
                Some(toml::Value::Integer(i)) if *i > 0 => Ok(*i as u64),
                Some(_) => Err(bad(format!("{key} must be a positive integer"))),
                None => Err(bad(format!("missing {key}"))),
            }
        };
        let degree = int(table.get("degree"), "degree")? as usize;
        let plaintext = int(table.get("plaintext"), "plaintext")?;
        let moduli = match table.get("moduli") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|v| int(Some(v), "every modulus"))
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(bad("moduli must be a list of integers".into())),
        };
        Ok(ParamSpec {
            degree,
            moduli,
            plaintext,
        })
    }

    /// The name a deployment records for custom parameters: `custom:` + hex of the blob.
    pub fn custom_name(&self) -> String {
        let hex: String = self.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("custom:{hex}")
    }
}

/// Parameters from the name a deployment records: a preset name, or `custom:<hex blob>`;
/// custom sets are validated exactly like presets (refused with the rule they break).
pub fn params_by_name(name: &str) -> Result<Params, CryptoError> {
    match name.strip_prefix("custom:") {
        None => Preset::from_name(name)?.params(),
        Some(hex) => {
            let bad = || CryptoError::Malformed {
                what: "parameter blob",
                reason: "not hexadecimal".into(),
            };
            if hex.len() % 2 != 0 || !hex.is_ascii() {
                return Err(bad());
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| bad()))
                .collect::<Result<Vec<u8>, _>>()?;
            Params::new("custom", ParamSpec::from_bytes(&bytes)?)
        }
    }
}

/// Validated parameters: the spec, its name and the shared fhe.rs object.
#[derive(Debug, Clone)]
pub struct Params {
    /// Preset name (or "custom").
    pub name: String,
    /// The numbers.
    pub spec: ParamSpec,
    /// The one `Arc<BfvParameters>` every key and ciphertext of a deployment must share.
    pub bfv: Arc<BfvParameters>,
}

/// How many distinct parameter sets [`built`] keeps (the presets and a few custom sets).
const BUILT_KEPT: usize = 8;

/// The fhe.rs parameters of a validated `spec`, built once per process. Building them makes
/// the NTT tables of every level and of the extended basis (a few hundred milliseconds at
/// N = 16384 on this machine), which every query, ingest and trustee answer would otherwise
/// pay again; the objects are immutable, so sharing one `Arc` is safe.
fn built(spec: &ParamSpec) -> Result<Arc<BfvParameters>, CryptoError> {
    use std::sync::{Mutex, OnceLock};
    type Kept = Vec<(ParamSpec, Arc<BfvParameters>)>;
    static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();
    let kept = KEPT.get_or_init(|| Mutex::new(Vec::new()));
    if let Some(bfv) = kept
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(s, _)| s == spec)
        .map(|(_, b)| b.clone())
    {
        return Ok(bfv);
    }
    // Built outside the lock: two threads may both build the same set once; both are equal.
    let bfv = BfvParametersBuilder::new()
        .set_degree(spec.degree)
        .set_plaintext_modulus(spec.plaintext)
        .set_moduli(&spec.moduli)
        .build_arc()?;
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    if !kept.iter().any(|(s, _)| s == spec) {
        if kept.len() >= BUILT_KEPT {
            kept.remove(0);
        }
        kept.push((spec.clone(), bfv.clone()));
    }
    Ok(bfv)
}

impl Params {
    /// Validate `spec` and build the fhe.rs parameters.
    pub fn new(name: &str, spec: ParamSpec) -> Result<Params, CryptoError> {
        Params::build(name, spec, false)
    }

    /// Like [`Params::new`], but `insecure` allows sets beyond the 128-bit size bound.
    pub fn build(name: &str, spec: ParamSpec, insecure: bool) -> Result<Params, CryptoError> {
        spec.validate(insecure)?;
        let bfv = built(&spec)?;
        Ok(Params {
            name: name.to_string(),
            spec,
            bfv,
        })
    }

    /// Number of SIMD slots (rows per chunk).
    pub fn slots(&self) -> usize {
        self.spec.degree
    }

    /// The plaintext modulus t.
    pub fn t(&self) -> u64 {
        self.spec.plaintext
    }

    /// Largest |total| that decodes unambiguously: totals must stay below t/2.
    pub fn max_abs_total(&self) -> u128 {
        (self.spec.plaintext / 2) as u128
    }

    /// Level at which columns used only in sums are stored: the deepest level (fewest moduli,
    /// fewest bytes) whose modulus still leaves room to flood the release with 2^-40
    /// statistical distance for up to 4 trustees and 2^10 summed chunks of fresh noise. Such
    /// columns are only ever summed over whole chunks (no noise room for row masks).
    pub fn compact_level(&self) -> usize {
        let log_t = f64::from(64 - self.spec.plaintext.leading_zeros());
        // t, 2 bits for 4 trustees, 3 spare, 40 margin, 14 fresh noise, 10 for 2^10 chunks.
        let needed = log_t + 2.0 + 3.0 + 40.0 + 14.0 + 10.0;
        (0..self.spec.moduli.len())
            .rev()
            .find(|&l| self.log_q_at(l) >= needed)
            .unwrap_or(0)
    }

    /// log2 of the ciphertext modulus at `level` (level 0 = all moduli).
    pub fn log_q_at(&self, level: usize) -> f64 {
        self.spec.moduli[..self.spec.moduli.len() - level]
            .iter()
            .map(|&q| (q as f64).log2())
            .sum()
    }
}

/// `b^e mod m` for any 64-bit modulus `m ≥ 1` (128-bit intermediates), by repeated
/// squaring: the Miller–Rabin test, the inverse of N mod t in the release, and the tests'
/// field inverses all use this one.
pub fn pow_mod(b: u64, mut e: u64, m: u64) -> u64 {
    let mul = |x: u64, y: u64| ((u128::from(x) * u128::from(y)) % u128::from(m)) as u64;
    let mut b = b % m;
    let mut r = 1 % m;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, b);
        }
        b = mul(b, b);
        e >>= 1;
    }
    r
}

/// Deterministic Miller–Rabin for 64-bit integers (bases proven sufficient below 2^64).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    for p in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        if n.is_multiple_of(p) {
            return n == p;
        }
    }
    let mut d = n - 1;
    let mut s = 0;
    while d.is_multiple_of(2) {
        d /= 2;
        s += 1;
    }
    let mul = |a: u64, b: u64| ((a as u128 * b as u128) % n as u128) as u64;
    'witness: for a in [2u64, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37] {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for p in Preset::ALL {
            p.params().unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            assert_eq!(Preset::from_name(p.name()).ok(), Some(p));
        }
    }

    #[test]
    fn each_rule_is_enforced() {
        let good = Preset::Bfv8192.spec();
        type Mutation = Box<dyn Fn(&mut ParamSpec)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("not prime", Box::new(|s| s.plaintext += 2)),
            ("not 1 mod 2N", Box::new(|s| s.plaintext = 1125899906842597)),
            (
                "equals the plaintext",
                Box::new(|s| s.moduli[1] = s.plaintext),
            ),
            (
                "smaller than the plaintext",
                Box::new(|s| s.moduli[1] = 1125899904679937),
            ),
            ("repeated", Box::new(|s| s.moduli[2] = s.moduli[0])),
            (
                "security bound",
                Box::new(|s| s.moduli.push(0x3fffffffd60001)),
            ),
            ("power of two", Box::new(|s| s.degree = 8000)),
        ];
        for (needle, mutate) in cases {
            let mut s = good.clone();
            mutate(&mut s);
            let err = s.validate(false).expect_err(needle).to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn blob_round_trip_and_corruption() {
        let spec = Preset::Bfv16384.spec();
        let bytes = spec.to_bytes();
        assert_eq!(ParamSpec::from_bytes(&bytes).ok(), Some(spec.clone()));
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            // A flipped byte either fails to decode or decodes to other numbers, which are
            // validated like any custom set (and change the fingerprint of every object).
            if let Ok(s) = ParamSpec::from_bytes(&b) {
                assert_ne!(s, spec, "byte {i}");
                assert_ne!(s.fingerprint(), spec.fingerprint(), "byte {i}");
            }
        }
        assert!(ParamSpec::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn compact_levels_keep_flooding_room() {
        // bfv-16384: two 60-bit moduli left (30 B/value); bfv-8192: three 54-bit moduli.
        assert_eq!(Preset::Bfv16384.params().expect("p").compact_level(), 3);
        assert_eq!(Preset::Bfv8192.params().expect("p").compact_level(), 1);
    }

    #[test]
    fn parameter_files_are_validated() {
        let good = "degree = 8192\nplaintext = 1125899906826241\nmoduli = [18014398508400641, 18014398508138497, 18014398507892737, 18014398507794433]\n";
        let spec = ParamSpec::from_toml(good, "p.toml").expect("parse");
        assert_eq!(spec, Preset::Bfv8192.spec());
        let p = params_by_name(&spec.custom_name()).expect("custom name round trip");
        assert_eq!(p.spec, spec);
        // t not 1 mod 2N, an unknown key, a too-large modulus chain: clear errors.
        let bad_t = good.replace("1125899906826241", "1125899906842597");
        let e = ParamSpec::from_toml(&bad_t, "p.toml")
            .expect("parse")
            .validate(false)
            .expect_err("bad t");
        assert!(e.to_string().contains("1 mod 2N"), "{e}");
        assert!(ParamSpec::from_toml("degree = 8192\nplain = 5\n", "p.toml")
            .expect_err("key")
            .to_string()
            .contains("unknown key"));
        assert!(params_by_name("custom:zz").is_err());
        assert!(params_by_name("custom:01").is_err());
    }

    #[test]
    fn miller_rabin_agrees_with_trial_division() {
        let trial = |n: u64| {
            n >= 2
                && (2..)
                    .take_while(|d| d * d <= n)
                    .all(|d| !n.is_multiple_of(d))
        };
        for n in 0..5000u64 {
            assert_eq!(is_prime(n), trial(n), "{n}");
        }
        assert!(is_prime(1125899906826241));
    }
}
