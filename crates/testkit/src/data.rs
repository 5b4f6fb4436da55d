//! The vendored and shared data the tests read: where the repository is, the AI4I 2020
//! CSV and slices of it.

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Path of a file under `/work/shared/data` (next to the repository), or `None` (saying so
/// on stderr) when it is absent, so the test that needs it skips.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = repo().join("../shared/data").join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not available", p.display());
        None
    }
}

/// The AI4I 2020 CSV: the vendored copy, else the shared one; `None` when neither exists.
pub fn ai4i_csv() -> Option<PathBuf> {
    [
        repo().join("data/ai4i2020/ai4i2020.csv"),
        repo().join("../shared/data/ai4i2020/ai4i2020.csv"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The header and data lines `from..to` of the vendored AI4I CSV.
pub fn ai4i_slice(from: usize, to: usize) -> String {
    let text = std::fs::read_to_string(repo().join("data/ai4i2020/ai4i2020.csv")).expect("AI4I");
    let mut lines = text.lines();
    let mut out = lines.next().expect("header").to_string();
    out.push('\n');
    for l in lines.skip(from).take(to - from) {
        out.push_str(l);
        out.push('\n');
    }
    out
}
