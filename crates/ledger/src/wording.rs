//! The wording of the ledger entries that more than one writer records: the embedded
//! `dtfhe query` and the platform server write the same query and release entries, and the
//! audit (embedded or remote) reads them back. One definition here keeps the ledgers of
//! both deployments alike and the audit's parsing in step with the writers.
//!
//! A release is a chain of entries linked by the sequence number R of its
//! `release_requested` entry: the trustees' decisions and the delivery have subject
//! [`release_subject`]`(R)`. Details hold SQL text, counts and ε, never a value of an
//! encrypted column.

/// Longest query detail in bytes before it is cut (at a character boundary) and marked
/// `…(truncated)`, so an analyst's huge SQL text cannot fill the entry's detail limit.
pub const MAX_QUERY_DETAIL: usize = 16 * 1024;

/// The detail of a `query_run` entry: the SQL text (analyst-written, never data) and ε.
pub fn query_detail(sql: &str, epsilon: Option<f64>) -> String {
    let mut s = format!("sql: {}", sql.trim());
    if let Some(e) = epsilon {
        s.push_str(&format!("; epsilon {e}"));
    }
    if s.len() > MAX_QUERY_DETAIL {
        let mut cut = MAX_QUERY_DETAIL;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" …(truncated)");
    }
    s
}

/// The dataset a SQL text names after FROM, or `-`: the subject of the entries of a query
/// that could not be planned.
pub fn dataset_of_sql(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("from"))
        .map(|w| {
            w[1].trim_matches(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
                .chars()
                .take(64)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// How an entry refers to the `query_run` entry `seq` it follows (start of the details of
/// its refusal and release request).
pub fn query_context(seq: u64) -> String {
    format!("query entry {seq}")
}

/// The detail of an `access_denied` entry: what was refused (`context`, e.g.
/// [`query_context`]) and the refusal's reason.
pub fn refusal_detail(context: &str, reason: &str) -> String {
    format!("{context}: refused: {reason}")
}

/// The detail of a `release_requested` entry for query entry `query_seq`: how many
/// encrypted sums over how many groups, and ε if the release is noised.
pub fn release_request_detail(
    query_seq: u64,
    sums: usize,
    groups: usize,
    epsilon: Option<f64>,
) -> String {
    format!(
        "{}: {sums} sums over {groups} groups{}",
        query_context(query_seq),
        epsilon
            .map(|e| format!(", epsilon {e}"))
            .unwrap_or_default()
    )
}

/// The subject of the entries that belong to the release requested by entry `seq`.
pub fn release_subject(seq: u64) -> String {
    format!("release {seq}")
}

/// The release entry a subject written by [`release_subject`] names, if it is one.
pub fn parse_release_subject(subject: &str) -> Option<u64> {
    subject.strip_prefix("release ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_subject_round_trips() {
        for seq in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_release_subject(&release_subject(seq)), Some(seq));
        }
        for bad in [
            "release",
            "release x",
            "releases 1",
            " release 1",
            "release -1",
        ] {
            assert_eq!(parse_release_subject(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_detail_is_cut_at_a_char_boundary() {
        let sql = format!("SELECT '{}'", "é".repeat(MAX_QUERY_DETAIL));
        let d = query_detail(&sql, Some(0.5));
        assert!(d.ends_with(" …(truncated)"));
        assert!(d.len() <= MAX_QUERY_DETAIL + " …(truncated)".len());
        assert_eq!(
            query_detail(" SELECT 1 ", Some(0.5)),
            "sql: SELECT 1; epsilon 0.5"
        );
        assert_eq!(query_detail("SELECT 1", None), "sql: SELECT 1");
    }

    #[test]
    fn dataset_of_sql_names_the_from_target() {
        assert_eq!(dataset_of_sql("select count(*) FROM runs where x"), "runs");
        assert_eq!(dataset_of_sql("SELECT 1 from \"runs\";"), "runs");
        assert_eq!(dataset_of_sql("SELECT 1"), "-");
    }

    #[test]
    fn release_request_detail_reads_as_before() {
        assert_eq!(
            release_request_detail(7, 3, 2, None),
            "query entry 7: 3 sums over 2 groups"
        );
        assert_eq!(
            release_request_detail(7, 3, 2, Some(1.5)),
            "query entry 7: 3 sums over 2 groups, epsilon 1.5"
        );
        assert_eq!(
            refusal_detail(&query_context(7), "k < 5"),
            "query entry 7: refused: k < 5"
        );
    }
}
