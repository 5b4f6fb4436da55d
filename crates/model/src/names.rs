//! Names of parties (trustees, sources, analysts, admins): they become ledger actors and,
//! for trustees and sources, directory and file names, so one rule is checked everywhere.

/// Longest party name, in bytes.
pub const MAX_PARTY_NAME_LEN: usize = 64;

/// Whether `name` is a valid party name: 1–64 of ASCII letters, digits, `-`, `_`, `.`, not
/// starting with `.` (so it is never a hidden file, `.` or `..`).
pub fn is_party_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PARTY_NAME_LEN
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_names() {
        for ok in ["a", "plant-a", "trustee_1", "x.y", &"n".repeat(64)] {
            assert!(is_party_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "é", &"n".repeat(65)] {
            assert!(!is_party_name(bad), "{bad}");
        }
    }
}
