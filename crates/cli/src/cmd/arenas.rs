//! The long-running daemons (`dtfhe serve`, `dtfhe trustee`) run with glibc's malloc capped
//! at two arenas.
//!
//! Why: glibc gives each busy thread an arena of its own and keeps the pages freed into it.
//! The platform decodes and frees megabytes of ciphertexts on tokio and rayon threads, so with
//! the default (8 arenas per core) its resident memory stayed hundreds of megabytes above its
//! live data. Under `dtfhe bench load` two arenas took its peak from 659–792 MB to 500–566 MB
//! at the same latency (measured in `crates/bench/README.md`).
//!
//! How: glibc reads `MALLOC_ARENA_MAX` once, when the process starts, so a daemon started
//! without it replaces itself (same process id, arguments and open files, through `exec`)
//! with itself with the variable set. An operator who sets the variable, to any value,
//! keeps it. On other systems nothing happens.

/// The variable glibc reads at start.
const VAR: &str = "MALLOC_ARENA_MAX";

/// The arenas a daemon runs with unless the environment says otherwise.
const DAEMON_ARENAS: &str = "2";

/// On Linux with glibc, when `MALLOC_ARENA_MAX` is unset: becomes this same command with
/// it set (does not return). Returns when the variable is set, elsewhere, or when the
/// restart fails (said on stderr; the daemon then runs with glibc's defaults).
pub(crate) fn cap_for_daemon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(VAR, DAEMON_ARENAS)
            .exec();
        eprintln!(
            "note: could not restart with {VAR}={DAEMON_ARENAS} ({err}); running with glibc's \
             default malloc arenas"
        );
    }
}
