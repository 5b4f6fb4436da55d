//! Micro-benchmarks of the hot paths, per operation, with the production preset
//! (`bfv-16384`, N = 16384 slots per ciphertext) unless a bench's name says otherwise:
//!
//! - crypto: encrypt one chunk of one column, ciphertext + ciphertext, ciphertext ×
//!   ciphertext with relinearisation, plaintext-mask × ciphertext, decode a stored
//!   ciphertext, one trustee's flooded coefficient-0 share, combine three shares;
//! - engine: plan a query, SUM over a dataset of `CHUNKS` stored chunks (selection and
//!   homomorphic sum, from a real embedded store).
//!
//! Every result is checked once against its plaintext before it is timed, so a bench
//! cannot measure a broken operation. Samples are few and short (criterion's minimum of 10
//! samples, 2 s of measurement) so `cargo bench -p dtfhe-bench --bench micro` takes a few
//! minutes on 2 cores; the figures are in crates/bench/README.md.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dtfhe_crypto::accumulate::{apply_mask, LinearSum, Multiplier, Tensor};
use dtfhe_crypto::ceremony::{self, CollectiveKeys};
use dtfhe_crypto::release::{centred, combine, trustee_share, Coeff0Share};
use dtfhe_crypto::{codec, column, Params, Preset};
use dtfhe_embedded::ops;
use dtfhe_engine::{exec, Catalog};
use fhe::bfv::{Ciphertext, SecretKey};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Trustees of the benchmark deployment (each release combines this many shares).
const TRUSTEES: usize = 3;
/// Stored chunks the engine's SUM bench reads.
const CHUNKS: usize = 4;

/// Parameters, three trustees' shares and the collective keys of one in-process ceremony.
struct Keys {
    params: Params,
    shares: Vec<SecretKey>,
    collective: CollectiveKeys,
    multiplier: Multiplier,
}

fn keys(preset: Preset) -> Keys {
    let params = preset.params().expect("preset");
    let mut rng = StdRng::seed_from_u64(1);
    let shares: Vec<SecretKey> = (0..TRUSTEES)
        .map(|_| ceremony::new_share(&params, &mut rng))
        .collect();
    let collective = ceremony::run(&params, &shares, &mut rng).expect("ceremony");
    let multiplier = Multiplier::new(&params, collective.relin.clone()).expect("multiplier");
    Keys {
        params,
        shares,
        collective,
        multiplier,
    }
}

/// A full chunk of values in [-1000, 1000].
fn values(params: &Params, seed: u64) -> Vec<i64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..params.slots())
        .map(|_| rng.random_range(-1000..=1000))
        .collect()
}

fn encrypt(k: &Keys, v: &[i64]) -> Ciphertext {
    let mut rng = StdRng::seed_from_u64(7);
    column::encrypt(&k.params, &k.collective.public, v, 0, &mut rng).expect("encrypt")
}

/// Every trustee's share of `ct`, combined: the total of all slots.
fn release(k: &Keys, ct: &Ciphertext) -> i128 {
    released_total(&k.params, &k.shares, ct)
}

fn short(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("micro");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn crypto(c: &mut Criterion) {
    let k = keys(Preset::Bfv16384);
    let (a, b) = (values(&k.params, 2), values(&k.params, 3));
    let (ca, cb) = (encrypt(&k, &a), encrypt(&k, &b));
    let mask: Vec<bool> = (0..k.params.slots()).map(|i| i % 3 == 0).collect();
    let mask_pt = column::mask_plaintext(&k.params, &mask, 0).expect("mask");

    // Each operation checked once against the plaintext before it is timed.
    let sum = |v: &[i64]| v.iter().map(|&x| i128::from(x)).sum::<i128>();
    assert_eq!(release(&k, &ca), sum(&a), "encrypt + release");
    assert_eq!(release(&k, &(&ca + &cb)), sum(&a) + sum(&b), "add");
    let product = {
        let (ea, eb) = (
            k.multiplier.extend(&ca).expect("extend"),
            k.multiplier.extend(&cb).expect("extend"),
        );
        let mut s = k.multiplier.product_sum();
        s.add(&ea, &eb);
        k.multiplier.finish(&s).expect("relinearise")
    };
    let dot: i128 = a.iter().zip(&b).map(|(x, y)| i128::from(x * y)).sum();
    assert_eq!(release(&k, &product), dot, "multiply");
    let masked: i128 = a
        .iter()
        .zip(&mask)
        .filter(|(_, &m)| m)
        .map(|(&x, _)| i128::from(x))
        .sum();
    assert_eq!(release(&k, &apply_mask(&ca, &mask_pt)), masked, "mask");
    let stored = codec::encode_ciphertext(&k.params, &ca);
    assert_eq!(
        codec::decode_ciphertext(&k.params, &stored).expect("decode"),
        ca,
        "decode"
    );

    let mut g = short(c);
    let mut rng = StdRng::seed_from_u64(11);
    g.bench_function("encrypt_chunk_bfv16384", |bench| {
        bench.iter(|| column::encrypt(&k.params, &k.collective.public, &a, 0, &mut rng))
    });
    g.bench_function("ct_add_bfv16384", |bench| bench.iter(|| &ca + &cb));
    g.bench_function("ct_mul_relin_bfv16384", |bench| {
        bench.iter(|| {
            let mut s = k.multiplier.product_sum();
            s.add(
                &k.multiplier.extend(&ca).expect("extend"),
                &k.multiplier.extend(&cb).expect("extend"),
            );
            k.multiplier.finish(&s).expect("relinearise")
        })
    });
    // One group's share of a GROUP BY product: the chunk's tensor is computed once; each
    // group lifts its row mask and adds the masked tensor.
    let tensor = Tensor::of(
        &k.multiplier.extend(&ca).expect("extend"),
        &k.multiplier.extend(&cb).expect("extend"),
    );
    g.bench_function("group_masked_product_bfv16384", |bench| {
        bench.iter(|| {
            let mut s = k.multiplier.product_sum();
            s.add_masked(&tensor, &k.multiplier.extend_mask(&mask_pt).expect("mask"));
            s
        })
    });
    g.bench_function("pt_mask_mul_bfv16384", |bench| {
        bench.iter(|| apply_mask(&ca, &mask_pt))
    });
    g.bench_function("decode_stored_ct_bfv16384", |bench| {
        bench.iter(|| codec::decode_ciphertext(&k.params, &stored).expect("decode"))
    });
    // The same bytes through fhe.rs's own parser (what `decode_ciphertext` did before its
    // fast path), measured in the same sitting for the ratio.
    let payload = codec::open(codec::Kind::Ciphertext, &k.params, &stored).expect("envelope");
    g.bench_function("decode_stored_ct_fhe_rs_bfv16384", |bench| {
        bench.iter(|| {
            <fhe::bfv::Ciphertext as fhe_traits::DeserializeParametrized>::from_bytes(
                payload,
                &k.params.bfv,
            )
            .expect("decode")
        })
    });
    g.bench_function("trustee_share_bfv16384", |bench| {
        bench.iter(|| trustee_share(&k.params, &k.shares[0], &ca, TRUSTEES, &mut rng))
    });
    let shares: Vec<Coeff0Share> = k
        .shares
        .iter()
        .map(|sk| trustee_share(&k.params, sk, &ca, TRUSTEES, &mut rng).expect("share"))
        .collect();
    g.bench_function("combine_3_shares_bfv16384", |bench| {
        bench.iter(|| combine(&k.params, &ca, &shares).expect("combine"))
    });
    // The same sum of `CHUNKS` ciphertexts the engine bench does, without the engine.
    let cts: Vec<Ciphertext> = (0..CHUNKS).map(|_| ca.clone()).collect();
    g.bench_function("linear_sum_4_cts_bfv16384", |bench| {
        bench.iter_batched(
            LinearSum::default,
            |mut s| {
                for ct in &cts {
                    s.add(ct).expect("add");
                }
                s.finish()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn engine(c: &mut Criterion) {
    // A real embedded deployment (three trustees, production preset) holding CHUNKS full
    // chunks of the synthetic `bench` dataset.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("d");
    ops::init(&ops::InitOptions {
        dir: dir.clone().into(),
        trustees: (0..TRUSTEES).map(|i| format!("t{i}")).collect(),
        threshold: None,
        min_group_size: 5,
        preset: Preset::Bfv16384.name().into(),
        policy: Default::default(),
    })
    .expect("init");
    let d = ops::open(&dir).expect("open");
    let rows = CHUNKS * d.params.slots();
    let data = dtfhe_bench::figures::generate(rows, 5);
    let (csv, schema) = (tmp.path().join("b.csv"), tmp.path().join("b.toml"));
    std::fs::write(&csv, dtfhe_bench::figures::to_csv(&data)).expect("csv");
    std::fs::write(&schema, dtfhe_bench::figures::BENCH_SCHEMA).expect("schema");
    ops::ingest(&ops::IngestOptions {
        dir: dir.clone().into(),
        schema,
        csv,
        source: "s".into(),
        progress: false,
    })
    .expect("ingest");

    let d = ops::open(&dir).expect("open");
    let schemas = [
        dtfhe_model::Schema::from_toml_str(dtfhe_bench::figures::BENCH_SCHEMA, "bench")
            .expect("schema"),
    ];
    let catalog = Catalog::new(&schemas.iter().collect::<Vec<_>>());
    let relin = codec::decode_relin_key(&d.params, &d.deployment.relin_key).expect("relin");
    let multiplier = Multiplier::new(&d.params, relin).expect("multiplier");
    let sql = "SELECT SUM(x) FROM bench WHERE line <= 2";
    let query = dtfhe_engine::plan(sql, &catalog).expect("plan");
    let sum = || {
        let selection = exec::select(&d.store, &d.params, &query).expect("select");
        exec::compute(&d.store, &query, &d.params, &multiplier, &selection).expect("compute")
    };
    assert_eq!(d.store.chunks("bench").expect("chunks").len(), CHUNKS);
    // Checked once against the plaintext: the released SUM equals the sum of the rows.
    let computed = sum();
    assert_eq!(computed.len(), 1, "one sum ciphertext");
    let shares = shares_of_deployment(&dir, &d.params, &d.deployment.trustees);
    // Encrypted values are centred on the declared mid-range (x·100 − offset).
    let offset = schemas[0]
        .column("x")
        .and_then(|c| c.encrypted())
        .expect("x is encrypted")
        .codec
        .offset;
    let plain: i128 = data
        .line
        .iter()
        .zip(&data.x)
        .filter(|(&l, _)| l <= 2)
        .map(|(_, &x)| i128::from(x - offset))
        .sum();
    assert_eq!(
        released_total(&d.params, &shares, &computed[0].ciphertext),
        plain,
        "SUM(x)"
    );

    let mut g = short(c);
    g.bench_function("plan_query", |bench| {
        bench.iter(|| dtfhe_engine::plan(sql, &catalog).expect("plan"))
    });
    g.bench_function("sum_4_chunks_bfv16384", |bench| bench.iter(sum));
    g.finish();
}

/// The trustees' key shares of an embedded deployment, read from their directories.
fn shares_of_deployment(
    dir: &std::path::Path,
    params: &Params,
    trustees: &[String],
) -> Vec<SecretKey> {
    trustees
        .iter()
        .map(|t| {
            // The trustee's 0600 secret file: a checksummed envelope around the share.
            let file = ops::trustee_dir(dir, t).join("share.key");
            let bytes = dtfhe_model::secret_file::read_secret(&file).expect("share file");
            codec::decode_secret_share(params, &bytes).expect("share")
        })
        .collect()
}

/// Every share's coefficient-0 share of `ct`, combined: the total of all slots, centred.
fn released_total(params: &Params, shares: &[SecretKey], ct: &Ciphertext) -> i128 {
    let mut rng = StdRng::seed_from_u64(13);
    let s: Vec<Coeff0Share> = shares
        .iter()
        .map(|sk| trustee_share(params, sk, ct, shares.len(), &mut rng).expect("share"))
        .collect();
    centred(params, combine(params, ct, &s).expect("combine"))
}

criterion_group!(benches, crypto, engine);
criterion_main!(benches);
