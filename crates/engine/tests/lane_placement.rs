//! A join pairs two datasets' rows slot by slot, so "same slot" must mean "same product".
//! Nobody who places rows is trusted for it: the platform hands out the lanes and each
//! source signs the ones it used. Every role runs `exec::select` before joining; it refuses
//! rows that contradict each other, naming both chunks and sources.
#![allow(clippy::unwrap_used)]

use dtfhe_engine::{exec, Catalog, EngineError};
use dtfhe_model::lanes::PlacementConflict;
use dtfhe_model::{
    ChunkMeta, ChunkReadError, ChunkReader, PartRead, PublicColumn, Schema, Value, LANE_COLUMN,
};

const MAKER: &str = "dataset = \"made\"\nstage = \"manufacturing\"\nlanes = \"product_id\"\n\n[[columns]]\nname = \"product_id\"\nkind = \"public\"\nrole = \"key\"\ntype = \"text\"\n\n[[columns]]\nname = \"torque\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";
const SERVICE: &str = "dataset = \"serviced\"\nstage = \"maintenance\"\nlanes = \"product_id\"\n\n[[columns]]\nname = \"product_id\"\nkind = \"public\"\nrole = \"key\"\ntype = \"text\"\n\n[[columns]]\nname = \"hours\"\nkind = \"encrypted\"\nscale = 1\nmin = 0\nmax = 100\n";
const SQL: &str =
    "SELECT COUNT(*), AVG(m.torque) FROM made m JOIN serviced s ON m.product_id = s.product_id";

/// Chunks held in memory: (dataset, chunk). Selection reads public columns only.
struct Chunks(Vec<(&'static str, ChunkMeta)>);

impl ChunkReader for Chunks {
    fn chunks(&self, dataset: &str) -> Result<Vec<ChunkMeta>, ChunkReadError> {
        Ok(self
            .0
            .iter()
            .filter(|(d, _)| *d == dataset)
            .map(|(_, c)| c.clone())
            .collect())
    }
    fn part(&self, _: i64, _: &str, _: &str) -> PartRead {
        Ok(None)
    }
}

fn chunk(id: i64, source: &str, placed: &[(&str, i64)]) -> ChunkMeta {
    let cols = [
        PublicColumn {
            name: "product_id".into(),
            values: placed
                .iter()
                .map(|(k, _)| Value::Text(k.to_string()))
                .collect(),
        },
        PublicColumn {
            name: LANE_COLUMN.into(),
            values: placed.iter().map(|&(_, l)| Value::Int(l)).collect(),
        },
    ];
    ChunkMeta {
        id,
        source: source.into(),
        seq: id as u64,
        rows: placed.len() as u32,
        public: dtfhe_model::encode_public_columns(&cols, placed.len()),
    }
}

fn select(service: &[(&str, i64)]) -> Result<exec::Selection, EngineError> {
    let schemas = [
        Schema::from_toml_str(MAKER, "made").unwrap(),
        Schema::from_toml_str(SERVICE, "serviced").unwrap(),
    ];
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let query = dtfhe_engine::plan(SQL, &catalog).unwrap();
    let params = dtfhe_crypto::params_by_name("bfv-8192").unwrap();
    let reader = Chunks(vec![
        (
            "made",
            chunk(1, "maker", &[("P1", 0), ("P2", 1), ("P3", 2)]),
        ),
        ("serviced", chunk(2, "service", service)),
    ]);
    exec::select(&reader, &params, &query)
}

#[test]
fn consistent_lanes_join_the_products_present_on_both_sides() {
    let s = select(&[("P2", 1), ("P3", 2), ("P9", 5)]).unwrap();
    assert_eq!(s.groups.len(), 1);
    assert_eq!(s.groups[0].state.rows(), 2);
}

#[test]
fn a_product_in_another_lane_is_refused_naming_both_chunks() {
    // The platform gave the service partner another lane for P2 than the maker.
    let e = select(&[("P2", 7), ("P3", 2)]).unwrap_err();
    let EngineError::LanePlacement(conflict) = &e else {
        panic!("{e}");
    };
    let PlacementConflict::TwoLanes { key, .. } = conflict.as_ref() else {
        panic!("{e}");
    };
    assert_eq!(key, "P2");
    let text = e.to_string();
    assert!(text.contains("chunk 1 of source `maker`"), "{text}");
    assert!(text.contains("chunk 2 of source `service`"), "{text}");
}

#[test]
fn another_product_in_a_taken_lane_is_refused() {
    // A source placed its product P8 in P1's lane: joined, it would pair P1's torque with
    // P8's service record.
    let e = select(&[("P8", 0), ("P3", 2)]).unwrap_err();
    let EngineError::LanePlacement(conflict) = &e else {
        panic!("{e}");
    };
    assert!(
        matches!(
            conflict.as_ref(),
            PlacementConflict::SharedLane { lane: 0, .. }
        ),
        "{e}"
    );
}
