//! The engine's sum cache (`dtfhe_engine::cache::SumCache`) on a real deployment: a query
//! asked again after new chunks landed adds only those chunks to its cached sums, and every
//! ciphertext is byte for byte the one the uncached computation gives (what the trustees
//! compare); a query over an earlier chunk pin, a new group and masked groups are computed
//! right; the released results equal the plaintext.

use dtfhe_crypto::accumulate::Multiplier;
use dtfhe_crypto::codec;
use dtfhe_embedded::ops::{self, IngestOptions, InitOptions};
use dtfhe_embedded::reference;
use dtfhe_engine::cache::SumCache;
use dtfhe_engine::exec::{self, ComputedSum};
use dtfhe_engine::Catalog;
use dtfhe_model::{ChunkPin, ChunkReader, PinnedReader, Schema};
use std::path::{Path, PathBuf};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

/// Products over whole chunks (grouped by source: no row masks).
const BY_SOURCE: &str = "SELECT source, COUNT(*), SUM(torque), AVG(tool_wear), \
                         CORR(torque, rpm) FROM ai4i GROUP BY source";
/// Linear sums through row masks.
const BY_TYPE: &str = "SELECT type, COUNT(*), SUM(torque), AVG(tool_wear) FROM ai4i GROUP BY type";

/// AI4I rows `from..to` (1-based data rows) with the header.
fn slice(text: &str, from: usize, to: usize) -> String {
    let mut lines = text.split_inclusive('\n');
    let header = lines.next().expect("header").to_string();
    header + &lines.skip(from - 1).take(to - from + 1).collect::<String>()
}

fn ingest(d: &Path, root: &Path, source: &str, csv: &str) {
    let path = root.join(format!("{source}-{}.csv", csv.len()));
    std::fs::write(&path, csv).expect("write csv");
    ops::ingest(&IngestOptions {
        dir: d.to_path_buf().into(),
        schema: repo("schemas/ai4i.toml"),
        csv: path,
        source: source.into(),
        progress: false,
    })
    .expect("ingest");
}

/// The query's sums computed with `cache` (if any) over `reader`, encoded.
fn sums(
    dep: &ops::Deployed,
    reader: &dyn ChunkReader,
    sql: &str,
    cache: Option<&SumCache>,
) -> Vec<Vec<u8>> {
    let schemas = ops::schemas(dep).expect("schemas");
    let query =
        dtfhe_engine::plan(sql, &Catalog::new(&schemas.iter().collect::<Vec<_>>())).expect("plan");
    let relin = codec::decode_relin_key(&dep.params, &dep.deployment.relin_key).expect("relin");
    let multiplier = Multiplier::new(&dep.params, relin).expect("multiplier");
    let selection = exec::select(reader, &dep.params, &query).expect("select");
    let computed: Vec<ComputedSum> =
        exec::compute_with(reader, &query, &dep.params, &multiplier, &selection, cache)
            .expect("compute");
    computed
        .iter()
        .map(|c| codec::encode_ciphertext(&dep.params, &c.ciphertext))
        .collect()
}

fn store_sums(dep: &ops::Deployed, sql: &str, cache: Option<&SumCache>) -> Vec<Vec<u8>> {
    sums(dep, &dep.store, sql, cache)
}

#[test]
fn cached_sums_equal_the_uncached_ciphertexts_as_chunks_land() {
    let root = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(repo("data/ai4i2020/ai4i2020.csv")).expect("AI4I");
    let d = root.path().join("dep");
    ops::init(&InitOptions::new(d.clone(), &["a", "b"], "bfv-8192")).expect("init");
    ingest(&d, root.path(), "plant-1", &slice(&text, 1, 150));
    // One deployment object throughout, as a platform or trustee process holds one.
    let dep = ops::open(&d).expect("open");

    let cache = SumCache::default();
    for sql in [BY_SOURCE, BY_TYPE] {
        assert_eq!(
            store_sums(&dep, sql, Some(&cache)),
            store_sums(&dep, sql, None)
        );
    }
    assert_eq!(cache.usage().0, 2, "one entry per computation");
    // Another parameter object (another deployment opened) is never served these sums.
    let other = ops::open(&d).expect("open");
    assert_eq!(
        store_sums(&other, BY_SOURCE, Some(&cache)),
        store_sums(&dep, BY_SOURCE, None)
    );
    let first = dep.store.chunks("ai4i").expect("chunks")[0].id;
    let pin = ChunkPin::from([("ai4i".to_string(), first)]);

    // More chunks: one more of plant-1's group, and a new group (plant-2).
    ingest(&d, root.path(), "plant-1", &slice(&text, 151, 300));
    ingest(&d, root.path(), "plant-2", &slice(&text, 301, 420));
    let hits = cache.hits();
    for sql in [BY_SOURCE, BY_TYPE] {
        let cached = store_sums(&dep, sql, Some(&cache));
        assert_eq!(cached, store_sums(&dep, sql, None), "{sql}");
        // Again, now wholly from the cache.
        assert_eq!(store_sums(&dep, sql, Some(&cache)), cached, "{sql}");
    }
    assert_eq!(
        cache.hits(),
        hits + 4,
        "both queries started from their cached sums"
    );
    // The earlier pin: the cached sums cover chunks it does not have, so it is computed
    // afresh, and equals the uncached sums over the same chunks.
    let pinned = PinnedReader::new(&dep.store, &pin);
    assert_eq!(
        sums(&dep, &pinned, BY_SOURCE, Some(&cache)),
        sums(&dep, &pinned, BY_SOURCE, None)
    );
    assert_eq!(
        cache.hits(),
        hits + 4,
        "no cached sum covers only the earlier chunks"
    );
    assert_ne!(
        sums(&dep, &pinned, BY_SOURCE, None),
        store_sums(&dep, BY_SOURCE, None)
    );

    // A cache bounded below one entry keeps nothing and changes nothing.
    let tiny = SumCache::new(1024);
    assert_eq!(
        store_sums(&dep, BY_SOURCE, Some(&tiny)),
        store_sums(&dep, BY_SOURCE, None)
    );
    assert_eq!(tiny.usage(), (0, 0));

    // And the released results equal the plaintext.
    let schema = Schema::from_toml_file(&repo("schemas/ai4i.toml")).expect("schema");
    let mut rows = Vec::new();
    for (source, from, to) in [("plant-1", 1, 300), ("plant-2", 301, 420)] {
        rows.extend(
            reference::plain_rows(slice(&text, from, to).as_bytes(), &schema, source)
                .expect("rows"),
        );
    }
    for sql in [BY_SOURCE, BY_TYPE] {
        let got = ops::query(&d, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let want = reference::evaluate(&schema, sql, &rows).expect("plaintext");
        reference::check(&got.result, &want).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
}
