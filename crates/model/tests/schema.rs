//! Schema parsing: the documented example and every validation error.

use dtfhe_model::{ColumnKind, PublicType, Schema, Stage, ThreadError, Usage};

const EXAMPLE: &str = r#"
dataset = "engines"
stage = "maintenance"
[csv]
delimiter = ","
header = true
[[columns]]
name = "unit"
source = "unit"
kind = "public"
type = "integer"
[[columns]]
name = "s2"
kind = "encrypted"
scale = 2
min = 640.0
max = 645.0
nullable = false
usage = "product"
"#;

fn schema_err(text: &str) -> String {
    match Schema::from_toml_str(text, "bad.toml") {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e @ ThreadError::Schema { .. }) | Err(e @ ThreadError::Toml { .. }) => {
            let m = e.to_string();
            assert!(m.starts_with("bad.toml"), "origin missing: {m}");
            m
        }
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
}

/// The example with one column's lines replaced.
fn with_column(extra: &str) -> String {
    format!("dataset = \"d\"\nstage = \"design\"\n[[columns]]\n{extra}\n")
}

#[test]
fn example_parses() {
    let s = Schema::from_toml_str(EXAMPLE, "engines.toml").expect("valid");
    assert_eq!(s.dataset, "engines");
    assert_eq!(s.stage, Stage::Maintenance);
    assert_eq!(s.csv.delimiter, Some(b','));
    assert!(s.csv.header);
    assert_eq!(s.columns.len(), 2);
    assert_eq!(s.columns[0].kind, ColumnKind::Public(PublicType::Integer));
    assert_eq!(s.columns[0].source, "unit");
    let ColumnKind::Encrypted(e) = &s.columns[1].kind else {
        panic!("s2 must be encrypted")
    };
    assert_eq!(e.usage, Usage::Product);
    assert_eq!(e.codec.scale, 2);
    assert_eq!((e.codec.min_scaled, e.codec.max_scaled), (64000, 64500));
    assert_eq!(s.columns[1].source, "s2");
    assert!(!s.columns[1].nullable);
    assert_eq!(s.column("S2").map(|c| c.name.as_str()), Some("s2"));
    assert_eq!(s.public_columns().count(), 1);
    assert_eq!(s.encrypted_columns().count(), 1);
}

#[test]
fn defaults_and_delimiters() {
    let s = Schema::from_toml_str(
        &with_column("name = \"a\"\nkind = \"public\"\ntype = \"text\"\nnullable = true"),
        "x",
    )
    .expect("valid");
    assert_eq!(s.csv.delimiter, Some(b','));
    assert!(s.csv.header);
    assert!(s.columns[0].nullable);
    for (d, want) in [
        ("\" \"", None),
        ("\"whitespace\"", None),
        ("\"\\t\"", Some(b'\t')),
        ("\";\"", Some(b';')),
        ("\"|\"", Some(b'|')),
    ] {
        let text = format!(
            "dataset = \"d\"\nstage = \"manufacturing\"\n[csv]\ndelimiter = {d}\nheader = false\n\
             [[columns]]\nname = \"x\"\nkind = \"encrypted\"\nscale = 0\nmin = -5\nmax = 5\nusage = \"sum\"\n"
        );
        let s = Schema::from_toml_str(&text, "x").expect("valid");
        assert_eq!(s.csv.delimiter, want, "{d}");
        assert!(!s.csv.header);
        assert_eq!(s.stage, Stage::Manufacturing);
        let e = s.columns[0].encrypted().expect("encrypted");
        assert_eq!(e.usage, Usage::Sum);
        assert_eq!(
            (e.codec.min_scaled, e.codec.max_scaled, e.codec.offset),
            (-5, 5, 0)
        );
    }
}

#[test]
fn no_encrypted_column_is_fine() {
    assert!(Schema::from_toml_str(
        &with_column("name = \"a\"\nkind = \"public\"\ntype = \"decimal\""),
        "x"
    )
    .is_ok());
}

#[test]
fn toml_syntax_error_has_position() {
    let e = Schema::from_toml_str("dataset = \"d\"\nstage = = \"x\"\n", "bad.toml")
        .expect_err("syntax");
    match &e {
        ThreadError::Toml { origin, line, .. } => {
            assert_eq!(origin, "bad.toml");
            assert_eq!(*line, Some(2));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().starts_with("bad.toml line 2, column "), "{e}");
}

#[test]
fn top_level_errors() {
    let col = "[[columns]]\nname = \"a\"\nkind = \"public\"\ntype = \"text\"\n";
    let cases: Vec<(String, &str)> = vec![
        (format!("stage = \"design\"\n{col}"), "missing \"dataset\""),
        (format!("dataset = \"d\"\n{col}"), "missing \"stage\""),
        (
            "dataset = \"d\"\nstage = \"design\"\n".into(),
            "missing \"columns\"",
        ),
        (
            "dataset = \"d\"\nstage = \"design\"\ncolumns = []\n".into(),
            "is empty",
        ),
        (
            format!("dataset = \"1d\"\nstage = \"design\"\n{col}"),
            "not an identifier",
        ),
        (
            format!("dataset = \"my-table\"\nstage = \"design\"\n{col}"),
            "not an identifier",
        ),
        (
            format!("dataset = \"d\"\nstage = \"assembly\"\n{col}"),
            "unknown stage \"assembly\"",
        ),
        (
            format!("dataset = 3\nstage = \"design\"\n{col}"),
            "\"dataset\" must be a string",
        ),
        (
            format!("dataset = \"d\"\nstage = \"design\"\nstgae = \"x\"\n{col}"),
            "unknown key \"stgae\"",
        ),
        (
            format!("dataset = \"d\"\nstage = \"design\"\n[csv]\ndelimter = \",\"\n{col}"),
            "unknown key \"delimter\"",
        ),
        (
            format!("dataset = \"d\"\nstage = \"design\"\n[csv]\ndelimiter = \"ab\"\n{col}"),
            "delimiter",
        ),
        (
            format!("dataset = \"d\"\nstage = \"design\"\n[csv]\nheader = \"yes\"\n{col}"),
            "\"header\" must be true or false",
        ),
        (
            format!("dataset = \"d\"\nstage = \"design\"\ncsv = 1\n{col}"),
            "\"csv\" must be a table",
        ),
        (
            "dataset = \"d\"\nstage = \"design\"\ncolumns = [1]\n".into(),
            "columns[0] must be a table",
        ),
    ];
    for (text, want) in cases {
        let m = schema_err(&text);
        assert!(m.contains(want), "expected {want:?} in {m:?}");
    }
}

#[test]
fn column_errors() {
    let enc = "kind = \"encrypted\"\nscale = 2\nmin = 0\nmax = 1";
    let cases: Vec<(String, &str)> = vec![
        (
            "kind = \"public\"\ntype = \"text\"".into(),
            "columns[0]: missing \"name\"",
        ),
        (
            "name = \"bad name\"\nkind = \"public\"\ntype = \"text\"".into(),
            "not an identifier",
        ),
        (
            "name = \"source\"\nkind = \"public\"\ntype = \"text\"".into(),
            "reserved",
        ),
        (
            "name = \"Source\"\nkind = \"public\"\ntype = \"text\"".into(),
            "reserved",
        ),
        (
            "name = \"a\"\ntype = \"text\"".into(),
            "column \"a\": missing \"kind\"",
        ),
        (
            "name = \"a\"\nkind = \"secret\"".into(),
            "column \"a\": unknown kind \"secret\"",
        ),
        (
            "name = \"a\"\nknd = \"public\"\ntype = \"text\"".into(),
            "column \"a\": unknown key \"knd\"",
        ),
        (
            "name = \"a\"\nkind = \"public\"".into(),
            "column \"a\": missing \"type\"",
        ),
        (
            "name = \"a\"\nkind = \"public\"\ntype = \"float\"".into(),
            "unknown type \"float\"",
        ),
        (
            "name = \"a\"\nkind = \"public\"\ntype = \"text\"\nscale = 2".into(),
            "\"scale\" applies only to encrypted",
        ),
        (
            "name = \"a\"\nkind = \"public\"\ntype = \"text\"\nnullable = 1".into(),
            "\"nullable\" must be true or false",
        ),
        (
            "name = \"a\"\nkind = \"public\"\ntype = \"text\"\nsource = \" \"".into(),
            "\"source\" is empty",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nmin = 0\nmax = 1".into(),
            "column \"a\": missing \"scale\"",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 1\nmax = 1".into(),
            "column \"a\": missing \"min\"",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 1\nmin = 1".into(),
            "column \"a\": missing \"max\"",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 1\nmin = 2\nmax = 1".into(),
            "min (2) is greater than max (1)",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 10\nmin = 0\nmax = 1".into(),
            "scale 10 is out of range",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = -1\nmin = 0\nmax = 1".into(),
            "scale -1 is out of range",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 1.5\nmin = 0\nmax = 1".into(),
            "\"scale\" must be an integer",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 9\nmin = 0\nmax = 1100".into(),
            "exceeds the supported magnitude",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 0\nmin = -1e13\nmax = 0".into(),
            "exceeds the supported magnitude",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 0\nmin = nan\nmax = 0".into(),
            "finite",
        ),
        (
            "name = \"a\"\nkind = \"encrypted\"\nscale = 0\nmin = \"0\"\nmax = 1".into(),
            "\"min\" must be a number",
        ),
        (
            format!("name = \"a\"\n{enc}\nusage = \"max\""),
            "unknown usage \"max\"",
        ),
        (
            format!("name = \"a\"\n{enc}\ntype = \"decimal\""),
            "\"type\" applies only to public",
        ),
        (
            format!("name = \"a\"\n{enc}\n[[columns]]\nname = \"A\"\n{enc}"),
            "column \"A\" is declared twice",
        ),
    ];
    for (col, want) in cases {
        let m = schema_err(&with_column(&col));
        assert!(m.contains(want), "expected {want:?} in {m:?}");
    }
}

#[test]
fn free_text_keys_are_accepted() {
    let text = "dataset = \"d\"\nstage = \"design\"\ndescription = \"x\"\n[[columns]]\nname = \"a\"\n\
                kind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 1\nunit = \"K\"\ndescription = \"t\"\n";
    assert!(Schema::from_toml_str(text, "x").is_ok());
}

#[test]
fn schema_file_io_error_names_path() {
    let e = Schema::from_toml_file(std::path::Path::new("/nonexistent/dir/s.toml"))
        .expect_err("missing file");
    assert!(matches!(e, ThreadError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/dir/s.toml"), "{e}");
}

#[test]
fn typo_message_lists_accepted_keys() {
    let e = Schema::from_toml_str(
        "dataset = \"d\"\nstage = \"design\"\n[[columns]]\nname = \"a\"\nknd = \"public\"\n",
        "bad.toml",
    )
    .expect_err("typo");
    assert_eq!(
        e.to_string(),
        "bad.toml: column \"a\": unknown key \"knd\" (accepted keys: name, source, kind, type, \
         scale, min, max, nullable, usage, thresholds, description, unit, role)"
    );
}

fn s2_with(thresholds: &str) -> String {
    with_column(&format!(
        "name = \"s2\"\nkind = \"encrypted\"\nscale = 1\nmin = 640.0\nmax = 645.0\n\
         thresholds = {thresholds}"
    ))
}

#[test]
fn thresholds_are_kept_as_scaled_integers() {
    let s = Schema::from_toml_str(&s2_with("[643.0, 643.5, 644]"), "t.toml").expect("valid");
    assert_eq!(s.columns[0].thresholds(), &[6430, 6435, 6440]);
    assert_eq!(s.thresholds("S2"), &[6430, 6435, 6440]);
    assert_eq!(dtfhe_model::indicator_part(0), Some("gt0"));
    assert_eq!(dtfhe_model::indicator_part(31), Some("gt31"));
    assert_eq!(dtfhe_model::indicator_part(32), None);
    // Edges at the declared bounds are accepted; no key means no edges.
    let s = Schema::from_toml_str(&s2_with("[640, 645]"), "t.toml").expect("valid");
    assert_eq!(s.thresholds("s2"), &[6400, 6450]);
    let s = Schema::from_toml_str(EXAMPLE, "t.toml").expect("valid");
    assert!(s.thresholds("s2").is_empty() && s.thresholds("unit").is_empty());
}

#[test]
fn bad_thresholds_name_the_column() {
    for (list, needle) in [
        ("[643.5, 643.0]", "strictly increasing"),
        ("[643.0, 643.0]", "strictly increasing"),
        ("[639.9]", "outside the declared range [640.0, 645.0]"),
        ("[645.1]", "outside the declared range"),
        ("[643.55]", "not exactly representable at scale 1"),
        ("[]", "empty"),
        ("[\"643\"]", "must be a finite number"),
        ("643.0", "must be an array"),
        ("[nan]", "must be a finite number"),
    ] {
        let e = schema_err(&s2_with(list));
        assert!(
            e.contains("column \"s2\"") && e.contains(needle),
            "{list}: {e}"
        );
    }
    let many: Vec<String> = (0..33).map(|i| format!("{}.0", 640 + i % 5)).collect();
    let e = schema_err(&s2_with(&format!("[{}]", many.join(", "))));
    assert!(
        e.contains("column \"s2\"") && e.contains("at most 32"),
        "{e}"
    );
    let e = schema_err(&with_column(
        "name = \"line\"\nkind = \"public\"\ntype = \"integer\"\nthresholds = [1]",
    ));
    assert!(
        e.contains("column \"line\"") && e.contains("only to encrypted"),
        "{e}"
    );
}

/// The problem is typed: a caller matches on what and where, not on the message.
#[test]
fn schema_problems_are_typed_with_their_place() {
    use dtfhe_model::{SchemaError, SchemaPlace};
    let problem = |text: &str| match Schema::from_toml_str(text, "bad.toml") {
        Err(ThreadError::Schema { origin, problem }) => {
            assert_eq!(origin, "bad.toml");
            problem
        }
        other => panic!("expected a schema problem, got {other:?}"),
    };
    let p = problem(&with_column(
        "name = \"a\"\nknd = \"public\"\ntype = \"text\"",
    ));
    assert!(
        matches!(&p, SchemaError::UnknownKey { key, .. } if key == "knd"),
        "{p:?}"
    );
    assert_eq!(p.place(), SchemaPlace::Column("a".into()));
    let p = problem(&with_column("kind = \"public\"\ntype = \"text\""));
    assert!(
        matches!(p, SchemaError::Missing { key: "name", .. }),
        "{p:?}"
    );
    assert_eq!(p.place(), SchemaPlace::ColumnAt(0));
    let p = problem(&s2_with("[643.5, 643.0]"));
    assert!(
        matches!(p, SchemaError::ThresholdsNotIncreasing { .. }),
        "{p:?}"
    );
    assert_eq!(p.place(), SchemaPlace::Column("s2".into()));
    let p = problem("dataset = \"d\"\nstage = \"design\"\n[csv]\ndelimiter = \"ab\"\n");
    assert_eq!(
        p,
        SchemaError::BadDelimiter {
            delimiter: "ab".into()
        }
    );
    assert_eq!(p.place(), SchemaPlace::Csv);
    let p = problem("stage = \"design\"\n");
    assert_eq!(p.place(), SchemaPlace::Dataset);
}
