//! Sealed artifacts and the product thread, through the real binary: `artifact put` then
//! `artifact get` round-trips byte for byte; another source (without the key, or with its
//! own key) is refused with exit 4 and nothing written; sealed bytes changed from outside
//! (trigger dropped) make `get` and `audit verify` fail naming the artifact; `thread show`
//! lists the product's sealed artifacts and its rows of a per-product dataset.

mod common;

use common::*;
use std::path::{Path, PathBuf};

/// Exit code of a refusal by policy.
const REFUSED: i32 = 4;
/// Exit code of detected tampering.
const TAMPERED: i32 = 8;

fn put(dir: &Path, product: &str, stage: &str, file: &Path, source: &str) -> String {
    ok([
        "artifact".as_ref(),
        "put".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--product".as_ref(),
        product.as_ref(),
        "--stage".as_ref(),
        stage.as_ref(),
        "--file".as_ref(),
        file.as_os_str(),
        "--source".as_ref(),
        source.as_ref(),
    ])
}

fn get_args(
    dir: &Path,
    product: &str,
    name: &str,
    out: &Path,
    source: &str,
) -> Vec<std::ffi::OsString> {
    vec![
        "artifact".into(),
        "get".into(),
        "--dir".into(),
        dir.into(),
        "--product".into(),
        product.into(),
        "--name".into(),
        name.into(),
        "--out".into(),
        out.into(),
        "--source".into(),
        source.into(),
    ]
}

/// A deployment with one design artifact of product M14860 sealed by `plant-a`.
fn deployment(name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let root = fresh_dir(&format!("artifacts-{name}-{}", std::process::id()));
    let dir = root.join("d");
    init(&dir, "a,b", 5, "bfv-8192");
    // Not UTF-8, with every byte value: a binary CAD file.
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let file = root.join("bracket.step");
    std::fs::write(&file, &bytes).expect("write file");
    let out = put(&dir, "M14860", "design", &file, "plant-a");
    assert!(out.contains("sealed `bracket.step` (5000 bytes)"), "{out}");
    (root, dir, bytes)
}

/// `dtfhe artifact get` of M14860's `bracket.step` by `source` into `out` fails with exit
/// `code` and writes nothing; returns stderr.
fn get_bracket_fails(dir: &Path, out: &Path, source: &str, code: i32) -> String {
    let err = fails_with(code, get_args(dir, "M14860", "bracket.step", out, source));
    assert!(!out.exists(), "{err}");
    err
}

#[test]
fn put_get_round_trip_and_other_sources_are_refused() {
    let (root, dir, bytes) = deployment("roundtrip");
    let out = root.join("opened.step");
    ok(get_args(&dir, "M14860", "bracket.step", &out, "plant-a"));
    assert_eq!(std::fs::read(&out).expect("output"), bytes);
    // The plaintext is nowhere in the store file.
    let db = std::fs::read(dir.join("store.sqlite")).expect("db");
    assert!(!db.windows(64).any(|w| w == &bytes[..64]));

    // A source with no key at all.
    let denied = root.join("denied.step");
    let err = get_bracket_fails(&dir, &denied, "plant-b", REFUSED);
    assert!(err.contains("sealed by source `plant-a`"), "{err}");
    // A source with its own artifact key (it sealed something else).
    let other = root.join("report.pdf");
    std::fs::write(&other, b"repair report").expect("write");
    put(&dir, "M14860", "maintenance", &other, "plant-c");
    let err = get_bracket_fails(&dir, &denied, "plant-c", REFUSED);
    assert!(err.contains("does not hold its key"), "{err}");
    // The owner without its key file.
    let key = dir.join("sources/plant-a/artifact.key");
    let saved = std::fs::read(&key).expect("key");
    std::fs::remove_file(&key).expect("rm key");
    let err = get_bracket_fails(&dir, &denied, "plant-a", REFUSED);
    assert!(err.contains("holds no artifact key"), "{err}");
    // The owner's name with another key: authentication fails, nothing written.
    std::fs::write(
        &key,
        std::fs::read(dir.join("sources/plant-c/artifact.key")).expect("k"),
    )
    .expect("write key");
    get_bracket_fails(&dir, &denied, "plant-a", TAMPERED);
    std::fs::write(&key, saved).expect("restore key");
    // Refusals are logged; the store still verifies.
    let log = ok(["audit", "log", "--dir", dir.to_str().expect("utf-8")]);
    assert!(
        log.contains("artifact_sealed") && log.contains("access_denied"),
        "{log}"
    );
    let summary = ok(["audit", "verify", "--dir", dir.to_str().expect("utf-8")]);
    assert!(summary.contains(", 2 sealed artifacts: OK"), "{summary}");
    // A name is never reused for a product.
    let again = fails_with(
        2,
        [
            "artifact".as_ref(),
            "put".as_ref(),
            "--dir".as_ref(),
            dir.as_os_str(),
            "--product".as_ref(),
            "M14860".as_ref(),
            "--stage".as_ref(),
            "design".as_ref(),
            "--file".as_ref(),
            root.join("bracket.step").as_os_str(),
            "--source".as_ref(),
            "plant-a".as_ref(),
        ],
    );
    assert!(again.contains("already has an artifact"), "{again}");
}

#[test]
fn tampered_sealed_bytes_fail_get_and_audit_verify() {
    let (root, dir, _) = deployment("tamper");
    {
        let c = rusqlite::Connection::open(dir.join("store.sqlite")).expect("open db");
        c.execute_batch(
            "DROP TRIGGER artifacts_no_update;
             UPDATE artifacts SET sealed = substr(sealed, 1, 100) || x'00' || substr(sealed, 102);",
        )
        .expect("tamper");
    }
    let out = root.join("opened.step");
    let err = get_bracket_fails(&dir, &out, "plant-a", TAMPERED);
    assert!(err.contains("bracket.step"), "{err}");
    let err = fails_with(
        TAMPERED,
        ["audit", "verify", "--dir", dir.to_str().expect("utf-8")],
    );
    assert!(
        err.contains("artifact 1 `bracket.step` of product `M14860`"),
        "{err}"
    );
}

#[test]
fn thread_show_lists_artifacts_and_lane_rows_by_stage() {
    let Some(csv) = ai4i_csv() else {
        eprintln!("SKIPPED: AI4I 2020 data not found");
        return;
    };
    let (root, dir, _) = deployment("thread");
    ingest_schema(&dir, "ai4i_process", &csv, "plant-a");
    let report = root.join("repair.txt");
    std::fs::write(&report, b"spindle replaced").expect("write");
    put(&dir, "M14860", "maintenance", &report, "service-co");
    let d = dir.to_str().expect("utf-8");
    let text = ok(["thread", "show", "--dir", d, "--product", "M14860"]);
    let design = text.find("design\n").expect("design stage");
    let manuf = text.find("manufacturing\n").expect("manufacturing stage");
    let maint = text.find("maintenance\n").expect("maintenance stage");
    assert!(design < manuf && manuf < maint, "{text}");
    assert!(
        text.contains("bracket.step") && text.contains("repair.txt"),
        "{text}"
    );
    assert!(
        text.contains("dataset ai4i_process") && text.contains("type=M"),
        "{text}"
    );
    assert!(!text.contains("spindle"), "{text}");
    let json = ok([
        "thread",
        "show",
        "--dir",
        d,
        "--product",
        "M14860",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("json");
    let recs = v["records"].as_array().expect("records");
    let kinds: Vec<(&str, &str)> = recs
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or(""),
                r["stage"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("artifact", "design"),
            ("row", "manufacturing"),
            ("artifact", "maintenance")
        ]
    );
    let row = &recs[1];
    assert_eq!(row["dataset"], "ai4i_process");
    assert_eq!(row["source"], "plant-a");
    assert_eq!(row["public"]["product_id"], "M14860");
    // Only public columns: no encrypted column name appears.
    assert!(row["public"].get("torque").is_none());
    assert_eq!(recs[0]["size"], 5000);
    assert_eq!(recs[0]["sealed_hash"].as_str().map(str::len), Some(64));
    // Another product has only its own records.
    let other = ok(["thread", "show", "--dir", d, "--product", "L47181"]);
    assert!(
        !other.contains("bracket.step") && other.contains("product_id=L47181"),
        "{other}"
    );
    ok(["audit", "verify", "--dir", d]);
}
