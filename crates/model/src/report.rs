//! Wording shared by the one-line reports the roles print.

use std::fmt;

/// `", {count} {what}"` when `count` is above 0, nothing otherwise: the optional tail of a
/// one-line report ("verified …, 3 sealed artifacts: OK"), so a report does not mention
/// what did not happen.
#[derive(Debug, Clone, Copy)]
pub struct IfAny<'a> {
    /// How many.
    pub count: u64,
    /// What they are (plural).
    pub what: &'a str,
}

impl fmt::Display for IfAny<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count > 0 {
            write!(f, ", {} {}", self.count, self.what)
        } else {
            Ok(())
        }
    }
}

/// [`IfAny`] of `count` things `what`.
pub fn if_any(count: u64, what: &str) -> IfAny<'_> {
    IfAny { count, what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_count_above_zero_is_mentioned() {
        assert_eq!(
            if_any(3, "sealed artifacts").to_string(),
            ", 3 sealed artifacts"
        );
        assert_eq!(if_any(0, "sealed artifacts").to_string(), "");
    }
}
