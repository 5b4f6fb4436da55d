//! The HEADER section of STEP files (ISO 10303-21 exchange structure, "Part 21"): the
//! original CAD files are sealed as artifacts of their product, and their header facts
//! become public fields of a design-stage dataset row (`dtfhe ingest --format step`).
//!
//! Read: `ISO-10303-21;`, then `HEADER;` with its entities up to `ENDSEC;`, then a `DATA;`
//! section, and the file must end with `END-ISO-10303-21;`. Of the header entities,
//! `FILE_NAME` gives the name and the time stamp (its first two parameters) and the
//! originating system (its sixth), `FILE_SCHEMA` the schema names (its one list), and
//! `FILE_DESCRIPTION` the description texts; comments (`/* … */`) are skipped. Strings are
//! taken as written between quotes (`''` is one quote; the `\X2\…\X0\` encodings are left
//! as they are). The DATA section is not parsed: the file is sealed whole.
//!
//! # Mapping: by the schema
//!
//! | `source` | value |
//! |---|---|
//! | `@product` | the product the file is sealed for (`--product`) |
//! | `@artifact` | the artifact's name (the file's name on disk) |
//! | `@step_name` | `FILE_NAME` name |
//! | `@step_time_stamp` | `FILE_NAME` time stamp (as written) |
//! | `@step_schema` | the `FILE_SCHEMA` names, `, ` separated |
//! | `@step_system` | `FILE_NAME` originating system |
//!
//! Errors name the line and the kind of defect, never header text.

use std::collections::BTreeMap;

use dtfhe_model::{Schema, Table};

use super::{check_rows, DocRow, FormatError};

/// Largest part of a STEP file read for its header (the rest is sealed unread).
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;
/// Deepest list nesting in a header parameter.
const MAX_NESTING: usize = 16;

/// What a STEP file's HEADER says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepHeader {
    /// `FILE_DESCRIPTION` description texts.
    pub description: Vec<String>,
    /// `FILE_NAME` name.
    pub name: String,
    /// `FILE_NAME` time stamp, as written.
    pub time_stamp: String,
    /// `FILE_NAME` originating system.
    pub originating_system: String,
    /// `FILE_SCHEMA` schema names.
    pub schemas: Vec<String>,
}

/// A header parameter.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Str(String),
    List(Vec<Param>),
    Other,
}

struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
    origin: &'a str,
}

impl Lexer<'_> {
    fn line(&self) -> usize {
        self.b[..self.pos.min(self.b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
            + 1
    }

    fn bad(&self, reason: &str) -> FormatError {
        FormatError::NotThisFormat {
            origin: self.origin.to_string(),
            format: "STEP (ISO 10303-21)",
            reason: format!("line {}: {reason}", self.line()),
        }
    }

    /// Skips blanks and comments.
    fn skip(&mut self) -> Result<(), FormatError> {
        loop {
            while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.b[self.pos..].starts_with(b"/*") {
                match self.b[self.pos + 2..].windows(2).position(|w| w == b"*/") {
                    Some(end) => self.pos += 2 + end + 2,
                    None => return Err(self.bad("a comment is not closed")),
                }
            } else {
                return Ok(());
            }
        }
    }

    /// Expects `word` (after blanks and comments).
    fn expect(&mut self, word: &[u8]) -> Result<(), FormatError> {
        self.skip()?;
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.bad(&format!("expected `{}`", String::from_utf8_lossy(word))))
        }
    }

    /// A keyword (letters, digits, `_`, `-`), or empty.
    fn keyword(&mut self) -> Result<String, FormatError> {
        self.skip()?;
        let start = self.pos;
        while self.pos < self.b.len()
            && (self.b[self.pos].is_ascii_alphanumeric() || matches!(self.b[self.pos], b'_' | b'-'))
        {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.pos]).into_owned())
    }

    fn string(&mut self) -> Result<String, FormatError> {
        // at the opening quote
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.b.get(self.pos) {
                None => return Err(self.bad("a string is not closed")),
                Some(b'\'') if self.b.get(self.pos + 1) == Some(&b'\'') => {
                    out.push(b'\'');
                    self.pos += 2;
                }
                Some(b'\'') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\n' | b'\r') => self.pos += 1,
                Some(&c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.bad("a string is not UTF-8"))
    }

    fn param(&mut self, depth: usize) -> Result<Param, FormatError> {
        self.skip()?;
        match self.b.get(self.pos) {
            None => Err(self.bad("the header ends inside an entity")),
            Some(b'\'') => Ok(Param::Str(self.string()?)),
            Some(b'(') => {
                if depth >= MAX_NESTING {
                    return Err(self.bad("lists nested too deep"));
                }
                self.pos += 1;
                Ok(Param::List(self.params(depth + 1)?))
            }
            Some(_) => {
                // $, *, numbers, .ENUM., #ref, typed values KEYWORD(…): skipped whole.
                let mut nest = 0usize;
                loop {
                    match self.b.get(self.pos) {
                        None => return Err(self.bad("the header ends inside an entity")),
                        Some(b'(') => {
                            nest += 1;
                            if nest > MAX_NESTING {
                                return Err(self.bad("lists nested too deep"));
                            }
                        }
                        Some(b')') if nest == 0 => return Ok(Param::Other),
                        Some(b')') => nest -= 1,
                        Some(b',') if nest == 0 => return Ok(Param::Other),
                        Some(b'\'') => {
                            self.string()?;
                            continue;
                        }
                        Some(b';') => return Err(self.bad("an entity is not closed")),
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
        }
    }

    /// Parameters up to and including the closing `)`.
    fn params(&mut self, depth: usize) -> Result<Vec<Param>, FormatError> {
        let mut out = Vec::new();
        self.skip()?;
        if self.b.get(self.pos) == Some(&b')') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            out.push(self.param(depth)?);
            self.skip()?;
            match self.b.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err(self.bad("expected `,` or `)` in a parameter list")),
            }
        }
    }
}

fn strings(p: &Param) -> Vec<String> {
    match p {
        Param::Str(s) => vec![s.clone()],
        Param::List(l) => l.iter().flat_map(strings).collect(),
        Param::Other => Vec::new(),
    }
}

fn text(p: Option<&Param>) -> String {
    match p {
        Some(Param::Str(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Reads the HEADER of a STEP file (and checks its overall structure).
pub fn parse_header(bytes: &[u8], origin: &str) -> Result<StepHeader, FormatError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let head = &bytes[..bytes.len().min(MAX_HEADER_BYTES)];
    let mut lx = Lexer {
        b: head,
        pos: 0,
        origin,
    };
    lx.expect(b"ISO-10303-21")?;
    lx.expect(b";")?;
    lx.expect(b"HEADER")?;
    lx.expect(b";")?;
    let mut h = StepHeader::default();
    let (mut has_name, mut has_schema) = (false, false);
    loop {
        let word = lx.keyword()?;
        match word.as_str() {
            "ENDSEC" => {
                lx.expect(b";")?;
                break;
            }
            "" => return Err(lx.bad("expected a header entity or ENDSEC")),
            _ => {}
        }
        lx.expect(b"(")?;
        let params = lx.params(0)?;
        lx.expect(b";")?;
        match word.as_str() {
            "FILE_DESCRIPTION" => h.description = params.first().map(strings).unwrap_or_default(),
            "FILE_NAME" => {
                h.name = text(params.first());
                h.time_stamp = text(params.get(1));
                h.originating_system = text(params.get(5));
                has_name = true;
            }
            "FILE_SCHEMA" => {
                h.schemas = params.first().map(strings).unwrap_or_default();
                has_schema = true;
            }
            _ => {}
        }
    }
    if !has_name || !has_schema {
        return Err(lx.bad("the header has no FILE_NAME or no FILE_SCHEMA"));
    }
    lx.skip()?;
    if !lx.b[lx.pos..].starts_with(b"DATA") {
        return Err(lx.bad("no DATA section after the header"));
    }
    let tail = bytes.trim_ascii_end();
    if !tail.ends_with(b"END-ISO-10303-21;") {
        return Err(FormatError::NotThisFormat {
            origin: origin.to_string(),
            format: "STEP (ISO 10303-21)",
            reason: "the file does not end with END-ISO-10303-21;".into(),
        });
    }
    Ok(h)
}

/// The dataset row of a sealed STEP file: its header facts (and product, artifact name) in
/// the columns the schema maps (see the module doc), checked as a CSV row.
pub fn header_row(
    header: &StepHeader,
    product: &str,
    artifact: &str,
    origin: &str,
    schema: &Schema,
) -> Result<Table, FormatError> {
    let mut fields = BTreeMap::new();
    for c in &schema.columns {
        let v = match c.source.as_str() {
            "@product" => product.to_string(),
            "@artifact" => artifact.to_string(),
            "@step_name" => header.name.clone(),
            "@step_time_stamp" => header.time_stamp.clone(),
            "@step_schema" => header.schemas.join(", "),
            "@step_system" => header.originating_system.clone(),
            _ => continue,
        };
        if !v.is_empty() {
            fields.insert(c.name.clone(), v);
        }
    }
    let row = DocRow {
        line: 2,
        path: "HEADER".into(),
        fields,
        places: BTreeMap::new(),
    };
    check_rows(&[row], Vec::new(), origin, schema)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const BRACKET: &str = include_str!("../../tests/fixtures/bracket.stp");

    #[test]
    fn header_facts() {
        let h = parse_header(BRACKET.as_bytes(), "bracket.stp").unwrap();
        assert_eq!(h.name, "bracket-B7.stp");
        assert_eq!(h.time_stamp, "2026-11-28T14:05:31+01:00");
        assert_eq!(h.schemas, ["AUTOMOTIVE_DESIGN { 1 0 10303 214 1 1 1 1 }"]);
        assert_eq!(h.originating_system, "Example CAD 2026 (Part 21 writer)");
        assert_eq!(
            h.description,
            ["Mounting bracket B7, machined", "don't scale"]
        );
    }

    #[test]
    fn not_step_is_refused_with_a_line() {
        for (doc, what) in [
            ("ISO-10303-21;\nHEADER;\nFILE_NAME('a','b',(''),(''),'','','');\nENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n", "no FILE_SCHEMA"),
            ("ISO-10303-21;\nHEADER;\nFILE_NAME('secret-4242\n", "not closed"),
            ("PK\u{3}\u{4}", "expected `ISO-10303-21`"),
            ("ISO-10303-21;\nHEADER;\nFILE_SCHEMA(('X'));\nFILE_NAME('a','b',(''),(''),'','','');\nENDSEC;\nDATA;\n#1=X();\n", "END-ISO-10303-21"),
            ("ISO-10303-21;\nHEADER;\n/* never closed", "comment"),
        ] {
            let e = parse_header(doc.as_bytes(), "x.stp").unwrap_err().to_string();
            assert!(e.contains(what), "{what}: {e}");
            assert!(!e.contains("4242"), "{e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Mutated files are refused or read, never a panic.
        #[test]
        fn hostile_input_never_panics(pos in 0usize..BRACKET.len(), bytes in proptest::collection::vec(any::<u8>(), 0..16), soup in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_header(&soup, "soup");
            let mut doc = BRACKET.as_bytes().to_vec();
            let end = (pos + bytes.len()).min(doc.len());
            doc.splice(pos..end, bytes);
            let _ = parse_header(&doc, "mutated");
        }
    }
}
