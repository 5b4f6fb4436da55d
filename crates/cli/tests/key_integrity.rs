//! A damaged key share never becomes a released number. One flipped byte in a trustee's
//! `share.key` (caught by the file's checksum), or a changed coefficient under a valid
//! checksum (caught by the check against the public-key share the trustee gave in the key
//! ceremony), makes that trustee refuse with a message naming the file and no key material:
//! nothing is released, no trustee's `shares.log` changes; once the file is restored the same
//! query is released and equals the plaintext answer. Embedded (`dtfhe query --dir`) and
//! networked (`dtfhe trustee` daemons) alike.

mod common;

use common::net::*;
use common::*;
use dtfhe_embedded::reference;
use dtfhe_model::secret_file::seal_secret;
use dtfhe_model::Schema;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn ai4i_schema() -> Schema {
    Schema::from_toml_file(&repo().join("schemas/ai4i.toml")).expect("schema")
}

/// Every trustee's share log (empty when it does not exist yet).
fn share_logs(trustees: &Path) -> Vec<Vec<u8>> {
    ["a", "b", "c"]
        .iter()
        .map(|t| std::fs::read(trustees.join(t).join("shares.log")).unwrap_or_default())
        .collect()
}

/// The two damages: a flipped byte inside the enveloped file (the checksum catches it), and
/// one key coefficient changed from 0 to 1 (or back) under a recomputed, valid checksum (only
/// the ceremony check can catch it: the share still decodes and is still small).
fn damaged_versions(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut flipped = good.to_vec();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    let payload = read_secret_bytes(good);
    let mut changed = payload.clone();
    // A one-byte varint 0 or 1 (its previous byte ends a varint too) near the end, where the
    // coefficients are: flipping its low bit keeps it a small coefficient.
    let at = (2..changed.len())
        .rev()
        .find(|&i| changed[i] <= 1 && changed[i - 1] < 0x80)
        .expect("a small coefficient");
    changed[at] ^= 1;
    vec![
        ("is damaged", flipped),
        (
            "does not match the public-key share this trustee gave in the key ceremony",
            seal_secret(&changed).to_vec(),
        ),
    ]
}

fn read_secret_bytes(file_bytes: &[u8]) -> Vec<u8> {
    dtfhe_model::secret_file::open_secret(file_bytes)
        .expect("a valid secret file")
        .to_vec()
}

/// The refusal says which trustee and file, that nothing was decrypted, and holds no key
/// material (no long run of hex or base64).
fn clear_refusal(err: &str, trustee: &str, expected: &str) {
    assert!(
        err.contains(&format!("trustee {trustee} refuses to answer"))
            && err.contains("share.key")
            && err.contains(expected)
            && err.contains("nothing was decrypted"),
        "{err}"
    );
    let longest_token = err
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest_token < 24, "looks like key material: {err}");
}

#[test]
fn embedded_damaged_share_releases_nothing_until_restored() {
    let dir = fresh_dir("key_integrity_embedded");
    let d = dir.join("d");
    init(&d, "a,b,c", 5, "bfv-8192");
    let csv_text = ai4i_slice(0, 80);
    let csv = dir.join("rows.csv");
    std::fs::write(&csv, &csv_text).expect("csv");
    ingest_schema(&d, "ai4i", &csv, "plant-a");
    let schema = ai4i_schema();
    let rows = reference::plain_rows(csv_text.as_bytes(), &schema, "plant-a").expect("rows");
    check_query(
        &d,
        &schema,
        &rows,
        "SELECT COUNT(torque), SUM(torque) FROM ai4i",
    );

    let key = d.join("trustees/b/share.key");
    let good = std::fs::read(&key).expect("key");
    let sql = "SELECT type, SUM(rpm), COUNT(tool_wear) FROM ai4i GROUP BY type";
    for (expected, bad) in damaged_versions(&good) {
        let logs = share_logs(&d.join("trustees"));
        std::fs::write(&key, &bad).expect("damage the key");
        let err = fails_with(8, query_args(&d, sql));
        clear_refusal(&err, "b", expected);
        assert_eq!(share_logs(&d.join("trustees")), logs, "a share log changed");
        // The audit records the refusal and still verifies.
        ok(["audit", "verify", "--dir", d.to_str().expect("utf-8")]);
        std::fs::write(&key, &good).expect("restore the key");
    }
    // Restored: released, and equal to the plaintext answer.
    check_query(&d, &schema, &rows, sql);
}

#[test]
fn daemon_with_a_damaged_share_refuses_until_restored() {
    let net = network("key_integrity_daemon", &[]);
    let key: PathBuf = net.trustee_dir("b").join("share.key");
    let good = std::fs::read(&key).expect("key");
    let schema = ai4i_schema();
    let mut rows = Vec::new();
    for (csv, source) in [
        (ai4i_slice(0, 297), "plant-a"),
        (ai4i_slice(297, 300), "tiny"),
    ] {
        rows.extend(reference::plain_rows(csv.as_bytes(), &schema, source).expect("rows"));
    }
    let trustees_dir = net.root.join("trustees");
    for (i, (expected, bad)) in damaged_versions(&good).into_iter().enumerate() {
        // A new query each round (new ciphertexts: nothing can come from a share log).
        let sql = format!(
            "SELECT COUNT(torque), SUM(rpm) FROM ai4i WHERE type = '{}'",
            ["L", "M"][i]
        );
        let args: Vec<String> = net
            .query_args(&sql)
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let logs = share_logs(&trustees_dir);
        std::fs::write(&key, &bad).expect("damage the key");
        // Trustee b refuses at once and says why; the analyst is told (exit 4) and nothing
        // is released.
        let mut analyst = Proc::spawn(&net.root, &format!("analyst-{i}"), &args);
        let status = analyst.wait(Duration::from_secs(120));
        let told = analyst.log();
        assert_eq!(status.code(), Some(4), "{told}");
        clear_refusal(&told, "b", expected);
        assert!(
            !told.lines().any(|l| l.starts_with('{')),
            "released: {told}"
        );
        let line = net.trustees[1].log();
        let line = line
            .lines()
            .rev()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| panic!("no refusal in trustee b's log: {line}"));
        clear_refusal(line, "b", expected);
        // Trustee b logged no share; the others may have answered (their shares are good).
        assert_eq!(
            share_logs(&trustees_dir)[1],
            logs[1],
            "b's share log changed"
        );
        // Restored: the same query asked again is released, equal to the plaintext.
        std::fs::write(&key, &good).expect("restore the key");
        let mut again = Proc::spawn(&net.root, &format!("analyst-{i}-again"), &args);
        let status = again.wait(Duration::from_secs(120));
        assert!(status.success(), "{}", again.log());
        let log = again.log();
        let json = log
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no result in {log}"));
        let plain = reference::evaluate(&schema, &sql, &rows).expect("plaintext");
        let mut got = parse_json(json);
        got.decimals = plain.decimals.clone();
        if let Err(e) = reference::check(&got, &plain) {
            panic!("{sql}: {e}\n{:?}\n{:?}", got.rows, plain.rows);
        }
    }
}
