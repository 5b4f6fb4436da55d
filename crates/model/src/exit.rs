//! The one mapping from what went wrong to the `dtfhe` process exit code, shared by the
//! embedded commands, the networked clients and the daemons, so one failure has one code
//! whichever way the deployment runs. The README's exit-code table is this list (a test
//! of the `cli` crate compares them line by line).

/// What kind of failure ended a command; each has one exit code ([`ExitKind::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitKind {
    /// File-system trouble outside the store, or the platform cannot be reached.
    Io,
    /// Bad arguments or a deployment mismatch the user must fix.
    Usage,
    /// A schema, CSV file or SQL query was rejected (here or by the platform).
    Input,
    /// The release policy refused; nothing was decrypted.
    Refused,
    /// The store could not be used, or a networked query was not released in time.
    Store,
    /// A cryptographic object was invalid or an operation failed.
    Crypto,
    /// An encrypted result differs from its plaintext twin (`demo`, `bench`).
    Mismatch,
    /// Tampering or damage: the store, its ledger, a trustee's key files, or a released
    /// result does not check out.
    Damaged,
    /// The platform server failed or answered inconsistently.
    Platform,
}

impl ExitKind {
    /// Every kind, in code order.
    pub const ALL: [ExitKind; 9] = [
        ExitKind::Io,
        ExitKind::Usage,
        ExitKind::Input,
        ExitKind::Refused,
        ExitKind::Store,
        ExitKind::Crypto,
        ExitKind::Mismatch,
        ExitKind::Damaged,
        ExitKind::Platform,
    ];

    /// The process exit code (0 is success and has no kind).
    pub fn code(self) -> i32 {
        match self {
            ExitKind::Io => 1,
            ExitKind::Usage => 2,
            ExitKind::Input => 3,
            ExitKind::Refused => 4,
            ExitKind::Store => 5,
            ExitKind::Crypto => 6,
            ExitKind::Mismatch => 7,
            ExitKind::Damaged => 8,
            ExitKind::Platform => 9,
        }
    }

    /// What the code means, exactly as the README's exit-code table says it.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitKind::Io => "file-system error outside the store; the platform cannot be reached",
            ExitKind::Usage => "usage: bad arguments, existing deployment, unknown preset, a read-only deployment directory for a command that writes",
            ExitKind::Input => "bad input: schema (also one that differs from the dataset's registered schema, naming the differences), CSV or SQL rejected, by this command or by the platform; nothing was stored",
            ExitKind::Refused => "refused by the release policy or the platform's access rules; nothing was decrypted",
            ExitKind::Store => "store error; a networked query not released in time (the silent trustees are named)",
            ExitKind::Crypto => "cryptographic error",
            ExitKind::Mismatch => "an encrypted result differs from the plaintext answer (`demo`, `bench`)",
            ExitKind::Damaged => "tampering or damage: the store, its ledger, a trustee's key share, ceremony record, share log or policy, a source's key, or a released result is missing, damaged or does not check out (the first bad entry, checkpoint, chunk, blob, table or file is named; nothing was released)",
            ExitKind::Platform => "the platform server failed or answered inconsistently (networked commands)",
        }
    }

    /// The kind of a platform answer that is an RFC 9457 problem: by its type (the part
    /// after `urn:dtfhe:problem:`) when it is one the platform documents, else by its HTTP
    /// status. A query or upload the platform rejects as malformed is bad input (3), as the
    /// embedded command would say; a refusal 4; a tampered store 8.
    pub fn for_problem(status: u16, kind: &str) -> ExitKind {
        match kind {
            "tampered" | "damaged" => return ExitKind::Damaged,
            "bad-request" | "bad-input" | "invalid-sql" | "invalid-query" | "too-large"
            | "too-deep" => return ExitKind::Input,
            "refused" | "forbidden" | "unauthenticated" | "replayed" => return ExitKind::Refused,
            "not-found" | "conflict" => return ExitKind::Usage,
            "unavailable" | "internal" => return ExitKind::Platform,
            _ => {}
        }
        match status {
            401 | 403 | 422 => ExitKind::Refused,
            404 | 409 => ExitKind::Usage,
            400..=499 => ExitKind::Input,
            _ => ExitKind::Platform,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<i32> = ExitKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes, (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn problems_map_by_type_then_status() {
        assert_eq!(ExitKind::for_problem(400, "bad-request"), ExitKind::Input);
        assert_eq!(ExitKind::for_problem(422, "refused"), ExitKind::Refused);
        assert_eq!(ExitKind::for_problem(500, "tampered"), ExitKind::Damaged);
        assert_eq!(ExitKind::for_problem(413, "whatever"), ExitKind::Input);
        assert_eq!(ExitKind::for_problem(409, "x"), ExitKind::Usage);
        assert_eq!(ExitKind::for_problem(503, "x"), ExitKind::Platform);
    }
}
