//! The wall clock as the project records it: Unix seconds (portable, sortable, no time-zone
//! library), for ledger entries, signed request timestamps and stamped rows.

/// Now, in Unix seconds; 0 if the system clock is before 1970 (never panics).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_after_2024_and_does_not_go_back() {
        let a = super::now_unix();
        let b = super::now_unix();
        assert!(a > 1_704_067_200, "{a}");
        assert!(b >= a);
    }
}
