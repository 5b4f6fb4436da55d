//! Test helpers: schemas built from struct literals (no TOML parsing needed).
#![allow(dead_code, missing_docs)]

use dtfhe_model::{
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
        kind: ColumnKind::Encrypted(EncryptedSpec {
            codec,
            usage,
            thresholds: Vec::new(),
            round: false,
        }),
        nullable,
        key: false,
    }
}

pub fn public(name: &str, t: PublicType, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name: name.into(),
        source: name.into(),
        kind: ColumnKind::Public(t),
        nullable,
        key: false,
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
        lanes: None,
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

use dtfhe_engine::plaintext::PlainRow;
use dtfhe_engine::{finalize_all, GroupKey, GroupState, Moment, Part, Query, ResultSet};
use dtfhe_model::Value;
use std::collections::HashMap;

/// The schema with `thresholds` (scaled integers) declared on the encrypted column `col`.
pub fn with_thresholds(mut schema: Schema, col: &str, thresholds: &[i64]) -> Schema {
    for c in &mut schema.columns {
        if c.name == col {
            if let ColumnKind::Encrypted(e) = &mut c.kind {
                e.thresholds = thresholds.to_vec();
            }
        }
    }
    schema
}

/// The stored indicator `x > thresholds[k]` (0 where NULL) of an encrypted column.
pub fn indicator(schema: &Schema, row: &PlainRow, col: &str, k: u8) -> i128 {
    let (v, present) = encode(schema, row, col);
    let c = schema.column(col).expect("column");
    let ColumnKind::Encrypted(e) = &c.kind else {
        panic!("{col} is not encrypted")
    };
    let edge = c.thresholds()[usize::from(k)] as i128 - e.codec.offset as i128;
    (present && v > edge) as i128
}

/// Encoded (centred value, present) of an encrypted column in a clear row.
pub fn encode(schema: &Schema, row: &PlainRow, col: &str) -> (i128, bool) {
    let ColumnKind::Encrypted(e) = &schema.column(col).expect("column").kind else {
        panic!("{col} is not encrypted")
    };
    let c = &e.codec;
    match row.get(col) {
        None | Some(Value::Null) => (0, false),
        Some(Value::Int(i)) => ((*i as i128) * 10i128.pow(c.scale) - c.offset as i128, true),
        Some(Value::Dec(d)) => {
            let k = (d * 10f64.powi(c.scale as i32)).round() as i128;
            (k - c.offset as i128, true)
        }
        Some(Value::Text(_)) => panic!("text in encrypted column"),
    }
}

/// What the executor does, by brute force in clear: filter, group, exact moment sums, finalize.
pub fn engine_eval(query: &Query, schema: &Schema, rows: &[PlainRow]) -> ResultSet {
    engine_eval_with(query, schema, rows.iter().map(|r| (r, r)), |m, row| {
        m.factors
            .iter()
            .map(|f| {
                let (v, p) = encode(schema, row, &f.column);
                match f.part {
                    Part::Value => v,
                    Part::Presence => p as i128,
                    Part::Square => v * v,
                    Part::Above(k) => indicator(schema, row, &f.column, k),
                }
            })
            .product()
    })
}

/// [`engine_eval`] with the fixed-point product of a moment's factors for a row computed by
/// `product` from the row's `R` (its encoding, however a test keeps it).
pub fn engine_eval_with<'a, R: Copy + 'a>(
    query: &Query,
    schema: &Schema,
    rows: impl IntoIterator<Item = (&'a PlainRow, R)>,
    product: impl Fn(&Moment, R) -> i128,
) -> ResultSet {
    let moments = query.moments();
    let mut groups: HashMap<GroupKey, (GroupState, HashMap<Moment, i128>)> = HashMap::new();
    for (row, encoded) in rows {
        if !query.selects(row) {
            continue;
        }
        let key = query.group_key(row);
        let (gs, sums) = groups
            .entry(GroupKey(key.clone()))
            .or_insert_with(|| (query.new_group(key), HashMap::new()));
        gs.add_row(row);
        for m in &moments {
            *sums.entry(m.clone()).or_insert(0) += product(m, encoded);
        }
    }
    finalize_all(query, schema, groups.into_values()).expect("finalize")
}

pub fn row(pairs: &[(&str, Value)]) -> PlainRow {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}
