//! International Registration Data Identifiers (IRDI, ISO/TS 29002-5; the ECLASS and IEC
//! CDD form of an AAS semanticId such as `0173-1#02-AAO677#002`): a syntax check, so a
//! mistyped IRDI in a document is reported instead of silently matching no column.
//!
//! An IRDI is `RAI#DI#VI`:
//!
//! - the registration authority identifier `RAI`: an ISO/IEC 6523 international code
//!   designator (ICD, 4 digits), then the organization identifier (OI) and the optional
//!   organization part identifier (OPI), OPI source (OPIS, 1 character) and additional
//!   information (AI), separated by `-` (ISO/TS 29002-5: `0173-1`) or by `/` with empty
//!   parts allowed after the OI (ISO/IEC 11179-6, IEC CDD: `0112/2///61360_4`);
//! - the data identifier `DI`: a code space identifier (CSI, 2 characters) `-` an item code
//!   (`02-AAO677`), or (IEC CDD) the item code alone (`AAA001`);
//! - the version identifier `VI`: digits (`002`).
//!
//! Parts are built of the "safe" characters `0-9 A-Z : _ .` (OI, OPI, item code: at most 35;
//! AI: at most 70). ECLASS IRDIs (ICD `0173`) are held to ECLASS's own form: RAI `0173-1`,
//! CSI two characters, a 6-character concept code and a 3-digit version.
//!
//! A semanticId key is taken for an IRDI when it starts with a digit (a URI or URN starts
//! with its scheme's letter).

/// The ISO/IEC 6523 ICD of ECLASS.
pub const ECLASS_ICD: &str = "0173";

/// Whether the semanticId key `key` is meant as an IRDI (it starts with a digit).
pub fn is_irdi_like(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_digit())
}

/// Checks the syntax of the IRDI `s`; Err: which part is malformed (never the text).
pub fn check(s: &str) -> Result<(), &'static str> {
    let parts: Vec<&str> = s.split('#').collect();
    let [rai, di, vi] = parts[..] else {
        return Err("an IRDI has three parts separated by `#` (RAI#DI#VI)");
    };
    if vi.is_empty() || vi.len() > 10 || !vi.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the version identifier (after the second `#`) is not 1 to 10 digits");
    }
    let icd = rai_icd(rai)?;
    let (csi, code) = match di.split_once('-') {
        Some((csi, code)) => {
            if csi.len() != 2
                || !csi
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            {
                return Err("the code space identifier is not 2 characters 0-9 A-Z");
            }
            (Some(csi), code)
        }
        None => (None, di),
    };
    if !safe(code, 35) {
        return Err("the item code is not 1 to 35 characters 0-9 A-Z : _ .");
    }
    if icd == ECLASS_ICD {
        if rai != "0173-1" {
            return Err("an ECLASS IRDI's registration authority is `0173-1`");
        }
        if csi.is_none() {
            return Err("an ECLASS IRDI's data identifier is CSI-code (e.g. 02-AAO677)");
        }
        if code.len() != 6
            || !code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            return Err("an ECLASS concept code is 6 characters 0-9 A-Z");
        }
        if vi.len() != 3 {
            return Err("an ECLASS version identifier is 3 digits");
        }
    }
    Ok(())
}

/// The ICD of the registration authority identifier `rai`, once every part is checked.
fn rai_icd(rai: &str) -> Result<&str, &'static str> {
    let slash = rai.contains('/');
    let parts: Vec<&str> = rai.split(if slash { '/' } else { '-' }).collect();
    let icd = parts[0];
    if icd.len() != 4 || !icd.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the registration authority does not start with a 4-digit ICD");
    }
    if parts.len() < 2 || parts.len() > 5 {
        return Err("the registration authority is not ICD and 1 to 4 further parts");
    }
    if !safe(parts[1], 35) {
        return Err("the organization identifier is not 1 to 35 characters 0-9 A-Z : _ .");
    }
    // With `/` an absent part is left empty (`0112/2///61360_4`); with `-` it is left out.
    let ok = parts[2..]
        .iter()
        .all(|p| (slash && p.is_empty()) || safe(p, 70));
    if !ok {
        return Err("a part of the registration authority is not 1 to 70 characters 0-9 A-Z : _ .");
    }
    Ok(icd)
}

/// `p` is 1 to `max` characters of ISO/TS 29002-5's safe set (`0-9 A-Z : _ .`).
fn safe(p: &str, max: usize) -> bool {
    !p.is_empty()
        && p.len() <= max
        && p.bytes().all(|b| {
            b.is_ascii_digit() || b.is_ascii_uppercase() || matches!(b, b':' | b'_' | b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_irdis_pass() {
        for ok in [
            "0173-1#02-AAO677#002",
            "0173-1#02-AAM556#002",
            "0173-1#01-AFW236#005",
            "0173-1#05-AAA650#003",
            "0112/2///61360_4#AAA001#001",
            "0112/2///61987#ABN590#002",
            "0112-1#02-ABC123#1",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn malformed_irdis_are_named_by_part() {
        for (bad, part) in [
            ("0173-1#02-AAO677", "three parts"),
            ("0173-1#02-AAO677#002#1", "three parts"),
            ("0173-1#02-AAO677#", "version identifier"),
            ("0173-1#02-AAO677#0x2", "version identifier"),
            ("173-1#02-AAO677#002", "4-digit ICD"),
            ("0173#02-AAO677#002", "ICD and 1 to 4"),
            ("0173-1#2-AAO677#002", "code space"),
            ("0173-1#02-aao677#002", "item code"),
            ("0173-1#02-#002", "item code"),
            ("0173-2#02-AAO677#002", "`0173-1`"),
            ("0173-1#AAO677#002", "CSI-code"),
            ("0173-1#02-AAO67#002", "6 characters"),
            ("0173-1#02-AAO677#02", "3 digits"),
            ("0112-#02-ABC123#1", "organization identifier"),
            (
                "0112-1-#02-ABC123#1",
                "registration authority is not 1 to 70",
            ),
            ("0173-1 #02-AAO677#002", "organization identifier"),
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.contains(part), "{bad}: {e}");
        }
    }

    #[test]
    fn only_keys_starting_with_a_digit_are_taken_for_irdis() {
        assert!(is_irdi_like("0173-1#02-AAO677#002"));
        assert!(!is_irdi_like(
            "https://admin-shell.io/zvei/nameplate/2/0/Nameplate"
        ));
        assert!(!is_irdi_like("urn:dtfhe:x"));
        assert!(!is_irdi_like(""));
    }

    proptest! {
        /// Every ECLASS IRDI built from its grammar passes; any text never panics.
        #[test]
        fn eclass_grammar_passes(csi in "[0-9A-Z]{2}", code in "[0-9A-Z]{6}", vi in "[0-9]{3}") {
            let irdi = format!("0173-1#{csi}-{code}#{vi}");
            prop_assert_eq!(check(&irdi), Ok(()));
        }

        #[test]
        fn any_text_is_checked_without_panic(s in "\\PC{0,60}") {
            let _ = check(&s);
        }
    }
}
