//! CAD / PLM through the real `dtfhe` binary: engineering parameters exported as CSV and as
//! JSON are ingested into a design-stage dataset (`--format cad`), and the released
//! aggregates equal the plaintext this test reads from the exports on its own; STEP files
//! are sealed as artifacts of their product with their HEADER facts as public fields of a
//! `cad_files` row (`--format step --product P`), and open again byte for byte. Bad inputs
//! are refused whole (exit 3), nothing stored, no value quoted.

mod common;

use common::documents::{document_deployment, fixture, DocIngest};
use common::*;
use dtfhe_engine::Cell;

#[test]
fn cad_parameters_and_step_files() {
    let (root, dir) = document_deployment("cad_documents");
    let cad = DocIngest::new(&dir, "cad", "cad_parameters.toml", "plant-a");
    let step = DocIngest::new(&dir, "step", "cad_files.toml", "plant-a");

    let secrets = ["190.21", "2500.5", "27.653"];
    cad.refused_whole(&fixture("cad_parameters_malformed.csv"), 4, &secrets);

    let out = cad.ok(&fixture("cad_parameters.csv"));
    assert_says(
        &out,
        &[
            "ingested 6 rows into `cad_parameters`",
            "6 values that no column maps (data items, parameters): skipped",
        ],
    );
    let out = cad.by("plant-b").ok(&fixture("cad_parameters.json"));
    assert!(out.contains("ingested 5 rows"), "{out}");

    // Plaintext: the CSV lines `part,Length,value,…` and `part,Mass,…`; the JSON parts.
    let csv = std::fs::read_to_string(fixture("cad_parameters.csv")).expect("fixture");
    let csv_sum = |param: &str| -> f64 {
        csv.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.get(1) == Some(&param)).then(|| f[2].parse::<f64>().expect("number"))
            })
            .sum()
    };
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("cad_parameters.json")).expect("fixture"),
    )
    .expect("JSON");
    let json_sum = |param: &str| -> f64 {
        json["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| {
                let v = &p["parameters"][param];
                v.get("value").unwrap_or(v).as_f64().expect("number")
            })
            .sum()
    };
    let r = query_json(&dir, "SELECT source, COUNT(*), SUM(length_mm), AVG(mass_kg) FROM cad_parameters GROUP BY source ORDER BY source");
    assert_eq!(r.rows.len(), 2);
    let plain = [
        (6, csv_sum("Length"), csv_sum("Mass") / 6.0),
        (5, json_sum("Length"), json_sum("Mass") / 5.0),
    ];
    for (row, (n, length, mass)) in r.rows.iter().zip(plain) {
        assert_eq!(row[1], Cell::Int(n), "{row:?}");
        assert_close(
            number(&row[2]),
            length,
            &format!("SUM(length_mm) of {row:?}"),
        );
        assert_close(number(&row[3]), mass, &format!("AVG(mass_kg) of {row:?}"));
    }

    // STEP: not a STEP file → refused, nothing sealed.
    let not_step = root.join("notes.stp");
    std::fs::write(&not_step, "PK\u{3}\u{4} a zip archive").expect("write");
    let err = step.of_product("P-100").refused(&not_step);
    assert!(err.contains("not a STEP (ISO 10303-21) document"), "{err}");
    assert_eq!(store_counts(&dir, "cad_files"), (0, 0));

    // Five STEP files, one per part, sealed and described.
    let bracket = std::fs::read_to_string(fixture("bracket.stp")).expect("fixture");
    for i in 0..5 {
        let part = format!("P-{}", 100 + i);
        let file = root.join(format!("bracket-{part}.stp"));
        std::fs::write(
            &file,
            bracket.replace("bracket-B7.stp", &format!("bracket-{part}.stp")),
        )
        .expect("write");
        let out = step.of_product(&part).ok(&file);
        let of_product = format!("of product `{part}`");
        let schema = "FILE_SCHEMA [\"AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }\"]";
        let phrases = [
            "as artifact",
            &of_product,
            schema,
            "ingested 1 rows into `cad_files`",
        ];
        assert_says(&out, &phrases);
    }
    // Again: already sealed, already ingested, nothing stored twice.
    let again = root.join("bracket-P-100.stp");
    let out = step.of_product("P-100").ok(&again);
    assert_says(&out, &["already sealed", "already ingested"]);

    let r = query_json(
        &dir,
        "SELECT step_schema, COUNT(*) FROM cad_files GROUP BY step_schema",
    );
    assert_eq!(
        r.rows,
        vec![vec![
            Cell::Text("AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }".into()),
            Cell::Int(5)
        ]]
    );

    // The sealed file opens byte for byte for its owner.
    let out_file = root.join("opened.stp");
    ok([
        "artifact".as_ref(),
        "get".as_ref(),
        "--dir".as_ref(),
        dir.as_os_str(),
        "--product".as_ref(),
        "P-102".as_ref(),
        "--name".as_ref(),
        "bracket-P-102.stp".as_ref(),
        "--out".as_ref(),
        out_file.as_os_str(),
        "--source".as_ref(),
        "plant-a".as_ref(),
    ] as [&std::ffi::OsStr; 12]);
    assert_eq!(
        std::fs::read(&out_file).expect("opened"),
        std::fs::read(root.join("bracket-P-102.stp")).expect("original")
    );
}
