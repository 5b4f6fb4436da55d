//! `dtfhe init --params FILE`: custom parameter files are validated like the presets; a file
//! that breaks a rule is refused with the rule named and nothing created.

use std::path::Path;
use std::process::{Command, Output};

fn dtfhe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dtfhe"))
}

/// `dtfhe init --dir d --trustees a,b --params file`.
fn init(d: &Path, file: &Path) -> Output {
    dtfhe()
        .args(["init", "--dir"])
        .arg(d)
        .args(["--trustees", "a,b", "--params"])
        .arg(file)
        .output()
        .expect("run")
}

/// Requires success; returns stdout.
fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const MODULI: &str = "[18014398508400641, 18014398508138497, 18014398507892737, 18014398507794433]";

#[test]
fn parameter_files_are_validated_before_anything_is_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (format!("degree = 8192\nplaintext = 1125899906842597\nmoduli = {MODULI}\n"), "1 mod 2N"),
        (format!("degree = 8192\nplaintext = 1125899906826243\nmoduli = {MODULI}\n"), "not prime"),
        (format!("degree = 8192\nplaintext = 18014398508400641\nmoduli = {MODULI}\n"), "equals the plaintext"),
        ("degree = 8192\nplaintext = 1125899906826241\nmoduli = [18014398508400641, 18014398508138497, 18014398507892737, 18014398507794433, 18014398506729473]\n".to_string(), "security bound"),
        ("degree = 8192\nt = 5\n".to_string(), "unknown key"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("p{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let d = dir.path().join(format!("d{i}"));
        let out = init(&d, &file);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {err}");
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(
            !d.join("store.sqlite").exists(),
            "{needle}: a store was created"
        );
    }
    // A valid file makes a working deployment.
    let file = dir.path().join("ok.toml");
    std::fs::write(
        &file,
        format!("degree = 8192\nplaintext = 1125899906826241\nmoduli = {MODULI}\n"),
    )
    .expect("write");
    let d = dir.path().join("ok");
    succeeded(init(&d, &file));
    let csv = dir.path().join("v.csv");
    let schema = dir.path().join("v.toml");
    std::fs::write(&csv, "x\n1.5\n2.5\n3.0\n4.0\n5.0\n").expect("write");
    std::fs::write(&schema, "dataset = \"v\"\nstage = \"design\"\n[[columns]]\nname = \"x\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 10\n").expect("write");
    let out = dtfhe()
        .args(["ingest", "--dir"])
        .arg(&d)
        .arg("--schema")
        .arg(&schema)
        .arg("--csv")
        .arg(&csv)
        .output()
        .expect("run");
    succeeded(out);
    let out = dtfhe()
        .args(["query", "--format", "json", "--dir"])
        .arg(&d)
        .arg("SELECT SUM(x), COUNT(*) FROM v")
        .output()
        .expect("run");
    assert_eq!(
        succeeded(out).trim(),
        r#"{"columns":["sum(x)","count(*)"],"rows":[[16.0,5]]}"#
    );
}
