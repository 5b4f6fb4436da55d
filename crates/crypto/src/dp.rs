//! Distributed differential-privacy noise.
//!
//! The released total gets discrete-Laplace noise, P(k) ∝ α^|k| with α = exp(−ε/Δ) for a sum
//! of sensitivity Δ: the ε-DP geometric mechanism. No single party knows the noise: the
//! discrete Laplace law is infinitely divisible — it is the difference of two geometric laws,
//! and a geometric law is the sum of n independent Pólya (negative binomial) variables with
//! shape 1/n — so each of the n trustees draws Pólya(1/n, α) − Pólya(1/n, α) on its own and
//! adds it inside its decryption share. The n shares sum to exactly one discrete-Laplace draw.

use crate::error::CryptoError;
use rand::Rng;
use rand_distr::{Distribution, Gamma, Poisson};

/// The discrete Laplace law P(k) ∝ α^|k|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiscreteLaplace {
    alpha: f64,
}

impl DiscreteLaplace {
    /// The ε-DP geometric mechanism for a sum whose value one row can change by at most
    /// `sensitivity`.
    pub fn for_epsilon(epsilon: f64, sensitivity: u128) -> Result<DiscreteLaplace, CryptoError> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(CryptoError::OutOfRange(format!(
                "epsilon must be a positive number, got {epsilon}"
            )));
        }
        let alpha = (-epsilon / sensitivity.max(1) as f64).exp();
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(CryptoError::OutOfRange(format!(
                "epsilon {epsilon} gives no usable noise scale"
            )));
        }
        Ok(DiscreteLaplace { alpha })
    }

    /// α.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Variance of the whole (summed) noise: 2α/(1−α)².
    pub fn variance(&self) -> f64 {
        2.0 * self.alpha / (1.0 - self.alpha).powi(2)
    }

    /// One trustee's share of the noise among `parties` trustees.
    pub fn sample_share<R: Rng + ?Sized>(
        &self,
        parties: usize,
        rng: &mut R,
    ) -> Result<i128, CryptoError> {
        let r = 1.0 / parties.max(1) as f64;
        let scale = self.alpha / (1.0 - self.alpha);
        let gamma = Gamma::new(r, scale).map_err(|e| CryptoError::OutOfRange(e.to_string()))?;
        let mut polya = || -> Result<i128, CryptoError> {
            let lambda: f64 = gamma.sample(rng);
            if lambda <= 0.0 {
                return Ok(0);
            }
            let p = Poisson::new(lambda).map_err(|e| CryptoError::OutOfRange(e.to_string()))?;
            Ok(p.sample(rng) as i128)
        };
        Ok(polya()? - polya()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shares_sum_to_discrete_laplace() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for (eps, sens) in [(1.0, 1u128), (0.5, 10), (0.1, 3)] {
            let d = DiscreteLaplace::for_epsilon(eps, sens).expect("law");
            let draws = 40_000;
            let totals: Vec<f64> = (0..draws)
                .map(|_| {
                    (0..3)
                        .map(|_| d.sample_share(3, &mut rng).expect("share"))
                        .sum::<i128>() as f64
                })
                .collect();
            let mean = totals.iter().sum::<f64>() / draws as f64;
            let var = totals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (draws - 1) as f64;
            let sd_of_mean = (d.variance() / draws as f64).sqrt();
            assert!(
                mean.abs() < 5.0 * sd_of_mean,
                "ε={eps}: mean {mean} vs sd {sd_of_mean}"
            );
            assert!(
                (var / d.variance() - 1.0).abs() < 0.08,
                "ε={eps}: variance {var} vs {}",
                d.variance()
            );
            // P(0) of the discrete Laplace law is (1−α)/(1+α).
            let p0 = totals.iter().filter(|&&x| x == 0.0).count() as f64 / draws as f64;
            let want = (1.0 - d.alpha()) / (1.0 + d.alpha());
            assert!(
                (p0 - want).abs() < 5.0 * (want * (1.0 - want) / draws as f64).sqrt() + 1e-3,
                "ε={eps}: P(0) {p0} vs {want}"
            );
        }
    }

    #[test]
    fn bad_epsilon_is_refused() {
        for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(DiscreteLaplace::for_epsilon(eps, 1).is_err(), "{eps}");
        }
    }
}
