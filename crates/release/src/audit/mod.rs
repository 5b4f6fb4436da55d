//! Disclosure audit (exact mode): refuses a release that, with everything already released on
//! a dataset, would make the total of fewer than k rows derivable.
