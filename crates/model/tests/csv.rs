//! CSV reading: the real AI4I 2020 and C-MAPSS FD001 files (skipped when absent) and every
//! kind of bad input, checking that errors name file, line and column and never quote an
//! encrypted value.

use dtfhe_model::{read_csv_bytes, read_csv_file, FixedPoint, Schema, ThreadError, Value};
use std::path::Path;

const AI4I: &str = "/work/shared/data/ai4i2020/ai4i2020.csv";
const CMAPSS: &str = "/work/shared/data/cmapss-fd001/train_FD001.txt";

/// `path` if the shared data file exists, else `None` (saying the test skips).
fn shared(path: &str) -> Option<&Path> {
    let p = Path::new(path);
    if !p.exists() {
        eprintln!("skipping: {path} not found");
        return None;
    }
    Some(p)
}

fn ai4i_schema() -> Schema {
    let text = include_str!("schemas/ai4i.toml");
    Schema::from_toml_str(text, "ai4i.toml").expect("valid schema")
}

fn cmapss_schema() -> Schema {
    let mut text = String::from(
        "dataset = \"cmapss\"\nstage = \"maintenance\"\n[csv]\ndelimiter = \"whitespace\"\nheader = false\n\
         [[columns]]\nname = \"unit\"\nkind = \"public\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"cycle\"\nkind = \"public\"\ntype = \"integer\"\n\
         [[columns]]\nname = \"op1\"\nkind = \"encrypted\"\nscale = 4\nmin = -0.01\nmax = 0.01\n\
         [[columns]]\nname = \"op2\"\nkind = \"encrypted\"\nscale = 4\nmin = -0.001\nmax = 0.001\n\
         [[columns]]\nname = \"op3\"\nkind = \"public\"\ntype = \"decimal\"\n",
    );
    for i in 1..=21 {
        text.push_str(&format!(
            "[[columns]]\nname = \"s{i}\"\nkind = \"encrypted\"\nscale = 4\nmin = 0\nmax = 10000\n"
        ));
    }
    Schema::from_toml_str(&text, "cmapss.toml").expect("valid schema")
}

/// Exact sum of a decimal column's text, in units of 10^-scale (test oracle, no floats).
fn exact_scaled_sum(texts: impl Iterator<Item = String>, scale: u32) -> i128 {
    texts
        .map(|t| {
            let (neg, t) = match t.strip_prefix('-') {
                Some(rest) => (true, rest.to_string()),
                None => (false, t),
            };
            let (int, frac) = t.split_once('.').unwrap_or((&t, ""));
            let mut frac = frac.to_string();
            assert!(
                frac.len() <= scale as usize,
                "oracle only handles exact values"
            );
            while frac.len() < scale as usize {
                frac.push('0');
            }
            let v: i128 = format!("{int}{frac}").parse().expect("digits");
            if neg {
                -v
            } else {
                v
            }
        })
        .sum()
}

/// The fixed-point codec of the encrypted column `name`.
fn codec(schema: &Schema, name: &str) -> FixedPoint {
    schema
        .column(name)
        .and_then(|c| c.encrypted())
        .map(|e| e.codec.clone())
        .expect("encrypted")
}

#[test]
fn real_ai4i_file() {
    let Some(path) = shared(AI4I) else { return };
    let schema = ai4i_schema();
    let t = read_csv_file(path, &schema).expect("the AI4I file reads");
    assert_eq!(t.rows, 10_000);
    assert_eq!(t.public.len(), 3);
    assert_eq!(t.encrypted.len(), 5);
    assert_eq!(t.public[0].name, "udi");
    assert_eq!(t.public[0].values[0], Value::Int(1));
    assert_eq!(t.public[1].values[0], Value::Text("M".into()));
    assert_eq!(t.public[0].values[9_999], Value::Int(10_000));
    let codec = |name: &str| codec(&schema, name);
    // First row: 1,M14860,M,298.1,308.6,1551,42.8,0,0,...
    assert_eq!(codec("air_temp").decode(t.encrypted[0].values[0]), 298.1);
    assert_eq!(codec("torque").decode(t.encrypted[3].values[0]), 42.8);
    assert_eq!(codec("rpm").decode(t.encrypted[2].values[0]), 1551.0);
    assert!(t.encrypted.iter().all(|c| c.present.iter().all(|&p| p)));
    // The sum decoded from the centred integers equals the exact decimal sum of the text.
    let text = std::fs::read_to_string(path).expect("utf-8");
    let torque_texts = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').nth(6).expect("7 fields").trim().to_string());
    let exact = exact_scaled_sum(torque_texts, 1);
    let sum_v: i128 = t.encrypted[3].values.iter().map(|&v| i128::from(v)).sum();
    let c = codec("torque");
    assert_eq!(sum_v + 10_000 * i128::from(c.offset), exact);
    let want: f64 = format!("{}.{}", exact / 10, exact % 10)
        .parse()
        .expect("f64");
    assert_eq!(c.decode_sum(sum_v, 10_000), want);
}

#[test]
fn real_cmapss_file() {
    let Some(path) = shared(CMAPSS) else { return };
    let schema = cmapss_schema();
    assert_eq!(schema.columns.len(), 26);
    let t = read_csv_file(path, &schema).expect("the C-MAPSS file reads");
    assert_eq!(t.rows, 20_631);
    assert_eq!(t.public.len(), 3);
    assert_eq!(t.encrypted.len(), 23);
    assert_eq!(t.public[0].values[0], Value::Int(1));
    assert_eq!(t.public[1].values[1], Value::Int(2));
    assert_eq!(t.public[2].values[0], Value::Dec(100.0));
    let codec = |name: &str| codec(&schema, name);
    // Row 1: ... -0.0007 -0.0004 100.0 518.67 641.82 ...
    assert_eq!(codec("op1").decode(t.encrypted[0].values[0]), -0.0007);
    assert_eq!(codec("s2").decode(t.encrypted[3].values[0]), 641.82);
    let text = std::fs::read_to_string(path).expect("utf-8");
    let s2 = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().nth(6).expect("field").to_string());
    let exact = exact_scaled_sum(s2, 4);
    let sum_v: i128 = t.encrypted[3].values.iter().map(|&v| i128::from(v)).sum();
    assert_eq!(sum_v + 20_631 * i128::from(codec("s2").offset), exact);
}

// ---- small synthetic files ----------------------------------------------------------------

const SMALL: &str = include_str!("schemas/engines.toml");

fn small() -> Schema {
    Schema::from_toml_str(SMALL, "engines.toml").expect("valid")
}

/// The error message of reading `bytes`, after checking the line and column it names
/// (`at`) and that it says `needle`.
fn assert_csv_err(
    bytes: &[u8],
    schema: &Schema,
    at: (usize, Option<&str>),
    needle: &str,
) -> String {
    let (line, col, msg) = csv_err(bytes, schema);
    assert_eq!((line, col.as_deref()), at, "{msg}");
    assert!(msg.contains(needle), "{msg}");
    msg
}

fn csv_err(bytes: &[u8], schema: &Schema) -> (usize, Option<String>, String) {
    match read_csv_bytes(bytes, "engines.csv", schema) {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e @ ThreadError::Csv { .. }) => {
            let msg = e.to_string();
            let ThreadError::Csv {
                origin,
                line,
                column,
                ..
            } = e
            else {
                unreachable!()
            };
            assert_eq!(origin, "engines.csv");
            assert!(
                msg.starts_with(&format!("engines.csv line {line}")),
                "{msg}"
            );
            if let Some(c) = &column {
                assert!(msg.contains(&format!("column \"{c}\"")), "{msg}");
            }
            (line, column, msg)
        }
        Err(e) => panic!("unexpected error kind: {e:?}"),
    }
}

#[test]
fn small_file_with_everything() {
    let bytes = b"\xEF\xBB\xBFunit, Line name ,extra,S2 [K],s3\r\n\
                  1,A,x,642.15,1.5\r\n\
                  \r\n\
                  2,,y, 640 ,\r\n\
                  3,\"B, quoted\",z,645.0,10\r\n\
                  \r\n   \r\n";
    let t = read_csv_bytes(bytes, "engines.csv", &small()).expect("valid");
    assert_eq!(t.rows, 3);
    assert_eq!(
        t.public[0].values,
        vec![Value::Int(1), Value::Int(2), Value::Int(3)]
    );
    assert_eq!(
        t.public[1].values,
        vec![
            Value::Text("A".into()),
            Value::Null,
            Value::Text("B, quoted".into())
        ]
    );
    assert_eq!(t.encrypted[0].name, "s2");
    // offset = 64250
    assert_eq!(
        t.encrypted[0].values,
        vec![64215 - 64250, 64000 - 64250, 64500 - 64250]
    );
    assert_eq!(t.encrypted[0].present, vec![true, true, true]);
    assert_eq!(t.encrypted[1].values, vec![15 - 50, 0, 100 - 50]);
    assert_eq!(t.encrypted[1].present, vec![true, false, true]);
}

#[test]
fn line_numbers_count_header_blank_lines_and_crlf() {
    let bytes = b"unit,Line name,S2 [K],s3\r\n1,A,642,1\r\n\r\n2,A,700.5,1\r\n";
    let (line, col, msg) = csv_err(bytes, &small());
    assert_eq!(line, 4);
    assert_eq!(col.as_deref(), Some("s2"));
    assert!(
        msg.contains("outside the declared range [640.00, 645.00]"),
        "{msg}"
    );
    assert!(!msg.contains("700"), "leaks the value: {msg}");
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n\n2,A,700.5,1\n";
    assert_eq!(csv_err(bytes, &small()).0, 4);
    // A quoted text field spanning two lines holds control characters (CR, LF): refused on
    // the line its record starts.
    let bytes = b"unit,Line name,S2 [K],s3\r\n1,\"two\r\nlines\",642,1\r\n2,A,650,1\r\n";
    let (line, col, msg) = csv_err(bytes, &small());
    assert_eq!((line, col.as_deref()), (2, Some("line")));
    assert!(msg.contains("U+000D"), "{msg}");
    // An error on the very first data line, after a BOM.
    let bytes = b"\xEF\xBB\xBFunit,Line name,S2 [K],s3\r\n1,A,650,1\r\n";
    assert_eq!(csv_err(bytes, &small()).0, 2);
}

#[test]
fn unparsable_encrypted_value_is_not_quoted() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,A,SECRET-6421x,1\n";
    let msg = assert_csv_err(bytes, &small(), (3, Some("s2")), "not a decimal number");
    assert!(!msg.contains("SECRET"), "leaks the value: {msg}");
    assert!(!msg.contains("6421"), "leaks the value: {msg}");
}

#[test]
fn out_of_range_value_is_not_quoted() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,A,642,10.5\n";
    let msg = assert_csv_err(bytes, &small(), (3, Some("s3")), "[0.0, 10.0]");
    assert!(!msg.contains("10.5"), "leaks the value: {msg}");
}

#[test]
fn extra_decimals_are_refused_unless_the_column_rounds() {
    // 642.155 at scale 2: refused, the value not quoted; 642.150 is exact.
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642.150,1\n2,A,642.155,1\n";
    let (line, col, msg) = csv_err(bytes, &small());
    assert_eq!((line, col.as_deref()), (3, Some("s2")));
    assert!(
        msg.contains("more decimals than the column's scale of 2"),
        "{msg}"
    );
    assert!(!msg.contains("642.155"), "leaks the value: {msg}");
    let rounding =
        Schema::from_toml_str(&SMALL.replace("scale = 2", "scale = 2\nround = true"), "r")
            .expect("valid");
    let t = read_csv_bytes(bytes, "engines.csv", &rounding).expect("rounds");
    // offset 64250; 642.155 rounds half away from zero to 642.16.
    assert_eq!(t.encrypted[0].values, vec![64215 - 64250, 64216 - 64250]);
    // `round` is for encrypted columns only.
    assert!(Schema::from_toml_str(
        &SMALL.replace(
            "nullable = true\n[[columns]]\nname = \"s2\"",
            "nullable = true\nround = true\n[[columns]]\nname = \"s2\""
        ),
        "r"
    )
    .is_err());
}

#[test]
fn control_characters_in_public_text_are_refused_tab_is_not() {
    for (c, code) in [
        ("\u{0}", "U+0000"),
        ("\u{7}", "U+0007"),
        ("\u{1b}", "U+001B"),
        ("\u{7f}", "U+007F"),
        ("\u{85}", "U+0085"),
    ] {
        let text = format!("unit,Line name,S2 [K],s3\n1,A,642,1\n2,A{c}[0m,642,1\n");
        let (line, col, msg) = csv_err(text.as_bytes(), &small());
        assert_eq!((line, col.as_deref()), (3, Some("line")), "{msg}");
        assert!(msg.contains(code) && msg.contains("character 2"), "{msg}");
        assert!(!msg.contains(c), "the message holds the character: {msg:?}");
    }
    let t = read_csv_bytes(
        b"unit,Line name,S2 [K],s3\n1,\"A\tB\",642,1\n",
        "t.csv",
        &small(),
    )
    .expect("tab is text");
    assert_eq!(
        t.public[1].values[0],
        dtfhe_model::Value::Text("A\tB".into())
    );
}

#[test]
fn bad_public_values_are_quoted() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n3.0,A,642,1\n";
    assert_csv_err(
        bytes,
        &small(),
        (3, Some("unit")),
        "not an integer: \"3.0\"",
    );
    let schema = Schema::from_toml_str(
        "dataset = \"d\"\nstage = \"design\"\n[[columns]]\nname = \"x\"\nkind = \"public\"\ntype = \"decimal\"\n",
        "d.toml",
    )
    .expect("valid");
    for bad in ["abc", "NaN", "inf", "1,5"] {
        let bytes = format!("x\n\"{bad}\"\n");
        let (line, col, msg) = csv_err(bytes.as_bytes(), &schema);
        assert_eq!((line, col.as_deref()), (2, Some("x")), "{bad}");
        assert!(msg.contains("not a decimal number"), "{msg}");
    }
    let t = read_csv_bytes(b"x\n-1.5e3\n", "d.csv", &schema).expect("valid");
    assert_eq!(t.public[0].values, vec![Value::Dec(-1500.0)]);
}

#[test]
fn wrong_column_count() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,A,642\n";
    let (line, col, msg) = csv_err(bytes, &small());
    assert_eq!((line, col), (3, None));
    assert!(
        msg.contains("wrong column count: expected 4, found 3"),
        "{msg}"
    );
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1,9\n";
    let (line, _, msg) = csv_err(bytes, &small());
    assert_eq!(line, 2);
    assert!(msg.contains("expected 4, found 5"), "{msg}");
}

#[test]
fn wrong_column_count_without_header() {
    let schema = cmapss_schema();
    let good = "1 1 -0.0007 -0.0004 100.0 518.67 641.82 1589.70 1400.60 14.62 21.61 554.36 2388.06 9046.19 1.30 47.47 521.66 2388.02 8138.62 8.4195 0.03 392 2388 100.00 39.06 23.4190  ";
    let t =
        read_csv_bytes(format!("{good}\n{good}\n\n").as_bytes(), "f.txt", &schema).expect("valid");
    assert_eq!(t.rows, 2);
    let short = "1 2 -0.0007 -0.0004 100.0 518.67";
    let bytes = format!("{good}\n{short}\n");
    let (line, col, msg) = csv_err(bytes.as_bytes(), &schema);
    assert_eq!((line, col), (2, None));
    assert!(
        msg.contains("wrong column count: expected 26, found 6"),
        "{msg}"
    );
    let bytes = format!("{good}\n{good} 7\n");
    let (line, _, msg) = csv_err(bytes.as_bytes(), &schema);
    assert_eq!(line, 2);
    assert!(msg.contains("expected 26, found 27"), "{msg}");
}

#[test]
fn non_utf8_field() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,\xFF\xFE,642,1\n";
    assert_csv_err(bytes, &small(), (3, Some("line")), "not valid UTF-8");
    // Whitespace mode too.
    let schema = cmapss_schema();
    let mut bytes = b"1 1".to_vec();
    bytes.extend_from_slice(b" \xC3\x28");
    bytes.extend_from_slice(&b" 1".repeat(23));
    bytes.push(b'\n');
    let (line, col, _) = csv_err(&bytes, &schema);
    assert_eq!((line, col.as_deref()), (1, Some("op1")));
    // Non-UTF-8 in the header.
    let (line, col, msg) = csv_err(b"unit,\xFF,S2 [K],s3\n1,A,642,1\n", &small());
    assert_eq!((line, col), (1, None));
    assert!(msg.contains("not valid UTF-8"), "{msg}");
}

#[test]
fn null_in_non_nullable_column() {
    let bytes = b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,A,  ,1\n";
    assert_csv_err(bytes, &small(), (3, Some("s2")), "not nullable");
    let bytes = b"unit,Line name,S2 [K],s3\n,A,642,1\n";
    let (line, col, _) = csv_err(bytes, &small());
    assert_eq!((line, col.as_deref()), (2, Some("unit")));
}

#[test]
fn missing_and_duplicate_header_columns() {
    let bytes = b"unit,Line name,S2,s3\n1,A,642,1\n";
    assert_csv_err(
        bytes,
        &small(),
        (1, Some("s2")),
        "the header has no column \"S2 [K]\"",
    );
    let bytes = b"unit,Line name,S2 [K],s3,s3\n1,A,642,1,2\n";
    assert_csv_err(bytes, &small(), (1, Some("s3")), "more than once");
}

#[test]
fn empty_and_header_only_files() {
    for bytes in [
        &b""[..],
        b"\xEF\xBB\xBF",
        b"\n\n  \r\n",
        b"unit,Line name,S2 [K],s3\r\n",
        b"unit,Line name,S2 [K],s3\n\n\n",
    ] {
        match read_csv_bytes(bytes, "engines.csv", &small()) {
            Err(e @ ThreadError::NoDataRows { .. }) => {
                assert_eq!(e.to_string(), "engines.csv: no data rows");
            }
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

#[test]
fn other_delimiters() {
    let schema = Schema::from_toml_str(
        "dataset = \"d\"\nstage = \"design\"\n[csv]\ndelimiter = \";\"\nheader = false\n\
         [[columns]]\nname = \"a\"\nkind = \"public\"\ntype = \"text\"\n\
         [[columns]]\nname = \"b\"\nkind = \"encrypted\"\nscale = 3\nmin = -1\nmax = 1\n",
        "d.toml",
    )
    .expect("valid");
    let t = read_csv_bytes(b"x;0.5\ny;-1e-3\n", "d.csv", &schema).expect("valid");
    assert_eq!(t.encrypted[0].values, vec![500, -1]);
    let tab = Schema::from_toml_str(
        "dataset = \"d\"\nstage = \"design\"\n[csv]\ndelimiter = \"\\t\"\n\
         [[columns]]\nname = \"a\"\nsource = \"A col\"\nkind = \"public\"\ntype = \"text\"\n",
        "d.toml",
    )
    .expect("valid");
    let t = read_csv_bytes(b"A col\tB\nhello world\t1\n", "d.csv", &tab).expect("valid");
    assert_eq!(t.public[0].values, vec![Value::Text("hello world".into())]);
}

#[test]
fn io_error_names_path() {
    let e = read_csv_file(Path::new("/nonexistent/x.csv"), &small()).expect_err("missing");
    assert!(matches!(e, ThreadError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/x.csv"), "{e}");
}

#[test]
fn file_and_bytes_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("e.csv");
    std::fs::write(&path, b"unit,Line name,S2 [K],s3\n1,A,642,1\n2,A,9999,1\n").expect("write");
    let e = read_csv_file(&path, &small()).expect_err("bad value");
    assert!(
        e.to_string()
            .starts_with(&format!("{} line 3, column \"s2\"", path.display())),
        "{e}"
    );
}
