//! Test helpers: schemas built from struct literals (no TOML parsing needed).
#![allow(dead_code, missing_docs)]

use dtfhe_thread::{
    ColumnKind, ColumnSpec, CsvOptions, EncryptedSpec, FixedPoint, PublicType, Schema, Stage, Usage,
};

pub fn codec(scale: u32, min_scaled: i64, max_scaled: i64) -> FixedPoint {
    FixedPoint {
        scale,
        min_scaled,
        max_scaled,
        offset: (min_scaled + max_scaled) / 2,
    }
}

pub fn enc(name: &str, codec: FixedPoint, usage: Usage, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        source: name.into(),
        kind: ColumnKind::Encrypted(EncryptedSpec { codec, usage }),
        nullable,
    }
}

pub fn public(name: &str, t: PublicType, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        source: name.into(),
        kind: ColumnKind::Public(t),
        nullable,
    }
}

pub fn schema(dataset: &str, columns: Vec<ColumnSpec>) -> Schema {
    Schema {
        dataset: dataset.into(),
        stage: Stage::Manufacturing,
        csv: CsvOptions {
            delimiter: Some(b','),
            header: true,
        },
        columns,
    }
}

/// machining: line (text), shift (int, nullable), temp (decimal, nullable), torque (enc,
/// scale 2, non-null, product), wear (enc, scale 3, nullable, product), energy (enc, scale 1,
/// nullable, sum only), speed (enc, scale 0, non-null, product).
pub fn machining() -> Schema {
    schema(
        "machining",
        vec![
            public("line", PublicType::Text, false),
            public("shift", PublicType::Integer, true),
            public("temp", PublicType::Decimal, true),
            enc("torque", codec(2, 0, 100_000), Usage::Product, false),
            enc("wear", codec(3, -5_000, 5_000), Usage::Product, true),
            enc("energy", codec(1, 0, 10_000), Usage::Sum, true),
            enc("speed", codec(0, 500, 3_000), Usage::Product, false),
        ],
    )
}
