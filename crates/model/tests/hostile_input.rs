//! Outside bytes never panic the schema parser or the CSV reader: they are accepted or give
//! an error.

use dtfhe_model::{read_csv_bytes, Schema};
use proptest::prelude::*;

const SCHEMA: &str = include_str!("schemas/hostile.toml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn schema_parser_never_panics(text in "\\PC{0,400}") {
        let _ = Schema::from_toml_str(&text, "fuzz.toml");
    }

    #[test]
    fn schema_parser_never_panics_on_near_valid_input(cut in 0usize..SCHEMA.len(), junk in "\\PC{0,20}") {
        let mut text = SCHEMA[..cut].to_string();
        text.push_str(&junk);
        text.push_str(&SCHEMA[cut..]);
        let _ = Schema::from_toml_str(&text, "fuzz.toml");
    }

    #[test]
    fn csv_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let schema = Schema::from_toml_str(SCHEMA, "s.toml").expect("schema");
        let _ = read_csv_bytes(&bytes, "fuzz.csv", &schema);
        let mut with_header = schema.clone();
        with_header.csv.header = true;
        with_header.csv.delimiter = Some(b',');
        let _ = read_csv_bytes(&bytes, "fuzz.csv", &with_header);
    }

    #[test]
    fn csv_reader_never_panics_on_numberish_lines(lines in proptest::collection::vec("[0-9 .eE+-]{0,30}", 0..20)) {
        let schema = Schema::from_toml_str(SCHEMA, "s.toml").expect("schema");
        let text = lines.join("\n");
        if let Ok(t) = read_csv_bytes(text.as_bytes(), "fuzz.csv", &schema) {
            prop_assert_eq!(t.encrypted[0].values.len(), t.rows);
        }
    }
}
