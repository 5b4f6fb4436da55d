//! `dtfhe bench`: ingest rate, bytes at rest, query and release latency on synthetic data,
//! against the targets of the product requirements and the OpenFHE reference.
//!
//! Every measurement goes through the same operations as the command line (`ops::init`,
//! `ops::ingest`, `ops::query`) on a fresh deployment with three trustees in a temporary
//! directory. The data is synthetic and deterministic (fixed seed): a public production
//! `line` (1..=4), two correlated product-capable columns `x`, `y` (scale 2) and a sum-only
//! column `z`.

use crate::error::BenchError;
use dtfhe_embedded::ops;
use dtfhe_engine::Cell;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

/// Schema of the synthetic dataset.
pub const BENCH_SCHEMA: &str = concat!(
    r#"dataset = "bench"
stage = "manufacturing"
description = "synthetic benchmark data"
"#,
    line_x_y_columns!(),
    r#"
[[columns]]
name = "z"
kind = "encrypted"
scale = 0
min = 0
max = 1000
usage = "sum"
"#
);

/// The statistics query measured.
pub const QUERY: &str = "SELECT AVG(x), STDDEV_POP(x), CORR(x, y) FROM bench";
/// The same with GROUP BY.
pub const QUERY_GROUPED: &str =
    "SELECT line, AVG(x), STDDEV_POP(x), CORR(x, y) FROM bench GROUP BY line ORDER BY line";

/// Synthetic rows, kept as the exact fixed-point integers (hundredths) for the plaintext side.
pub struct Data {
    /// Production line, 1..=4.
    pub line: Vec<u8>,
    /// x · 100.
    pub x: Vec<i64>,
    /// y · 100.
    pub y: Vec<i64>,
    /// z.
    pub z: Vec<i64>,
}

/// Generate `n` deterministic rows: x uniform in [0, 100), y = 0.8·x + uniform [0, 50),
/// z uniform in 0..=1000.
pub fn generate(n: usize, seed: u64) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut d = Data {
        line: Vec::with_capacity(n),
        x: Vec::with_capacity(n),
        y: Vec::with_capacity(n),
        z: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let x: i64 = rng.random_range(0..10_000);
        let y: i64 = x * 4 / 5 + rng.random_range(0..5_000);
        d.line.push(rng.random_range(1..=4));
        d.x.push(x);
        d.y.push(y);
        d.z.push(rng.random_range(0..=1000));
    }
    d
}

fn hundredths(v: i64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

/// The rows as a CSV export with a header.
pub fn to_csv(d: &Data) -> String {
    let mut s = String::with_capacity(d.x.len() * 24 + 16);
    s.push_str("line,x,y,z\n");
    for i in 0..d.x.len() {
        let _ = writeln!(
            s,
            "{},{},{},{}",
            d.line[i],
            hundredths(d.x[i]),
            hundredths(d.y[i]),
            d.z[i]
        );
    }
    s
}

/// AVG(x), STDDEV_POP(x), CORR(x, y) in plain f64 (two passes), per group.
pub fn plain_stats(d: &Data, grouped: bool) -> BTreeMap<u8, [f64; 3]> {
    let mut groups: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, &l) in d.line.iter().enumerate() {
        groups
            .entry(if grouped { l } else { 0 })
            .or_default()
            .push(i);
    }
    groups
        .into_iter()
        .map(|(k, idx)| {
            let n = idx.len() as f64;
            let xs = |i: usize| d.x[i] as f64 / 100.0;
            let ys = |i: usize| d.y[i] as f64 / 100.0;
            let mx = idx.iter().map(|&i| xs(i)).sum::<f64>() / n;
            let my = idx.iter().map(|&i| ys(i)).sum::<f64>() / n;
            let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
            for &i in &idx {
                let (dx, dy) = (xs(i) - mx, ys(i) - my);
                sxx += dx * dx;
                syy += dy * dy;
                sxy += dx * dy;
            }
            (k, [mx, (sxx / n).sqrt(), sxy / (sxx * syy).sqrt()])
        })
        .collect()
}

/// Figures for one row count.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Rows.
    pub rows: usize,
    /// Encrypted values ingested.
    pub values: usize,
    /// Ingest end to end, values/s.
    pub ingest_rate: f64,
    /// Encryption alone, values/s.
    pub encrypt_rate: f64,
    /// The store stage alone (the same signed chunks appended again, in commits of 8 as
    /// `ingest` does), values/s: (with ledger entries, checkpoints and source-signature
    /// checks, without them on a throw-away scratch store).
    pub store_rate: (f64, f64),
    /// Seconds the ledger adds to the store stage, as a share of the end-to-end ingest time.
    pub ledger_share: f64,
    /// Bytes at rest per value, product-capable columns (x, y), all their parts.
    pub product_bytes: f64,
    /// Bytes at rest per value, sum-only column (z).
    pub sum_bytes: f64,
    /// Bytes at rest per SIMD slot (per value of a full chunk): product columns, sum-only.
    pub slot_bytes: (f64, f64),
    /// Ungrouped query: (compute s, release s, wall s, released ciphertexts).
    pub query: (f64, f64, f64, usize),
    /// Grouped query: the same.
    pub grouped: (f64, f64, f64, usize),
    /// Plaintext seconds: ungrouped, grouped.
    pub plain: (f64, f64),
    /// Whether all released values matched plaintext.
    pub exact: bool,
    /// Predictive maintenance: ridge fit of y on x (s), homomorphic scoring of every row and
    /// its per-row release to the owner (s).
    pub model: (f64, f64),
}

fn find_store(dir: &Path) -> Result<dtfhe_store::Store, BenchError> {
    match dtfhe_store::Store::open(dir) {
        Ok(s) => Ok(s),
        Err(e) => {
            // The store may live one level down (e.g. `D/store/`).
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let p = entry.path();
                    if p.join(dtfhe_store::STORE_FILE).is_file() {
                        return Ok(dtfhe_store::Store::open(&p)?);
                    }
                }
            }
            Err(e.into())
        }
    }
}

/// Times the store stage of the ingest with and without the ledger: the chunks `ingest`
/// stored in `dir` are read back, signed by a scratch source, and appended again, in
/// commits of 8 chunks as `ingest` does, (1) to a new ordinary store (ledger entries,
/// signed checkpoints, source-signature checks) and (2) to a throw-away unledgered scratch
/// store (`Store::create_scratch_unledgered`, which only exists for this measurement).
/// Both in `scratch/`, five alternating rounds; returns the best seconds of (1) and (2).
fn ledger_cost(dir: &Path, scratch: &Path) -> Result<(f64, f64), BenchError> {
    use dtfhe_model::{ChunkOrigin, NewChunk, NewPart};
    use dtfhe_store::Store;
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x5a; 32]);
    let chunks: Vec<NewChunk> = {
        let store = find_store(dir)?;
        let metas = store.chunks("bench")?;
        let count = u32::try_from(metas.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(metas.len());
        for (i, m) in metas.into_iter().enumerate() {
            let mut parts = Vec::new();
            for p in store.parts(m.id)? {
                let bytes = store.part(m.id, &p.column, &p.part)?.unwrap_or_default();
                parts.push(NewPart {
                    column: p.column,
                    part: p.part,
                    bytes,
                });
            }
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let mut c = NewChunk {
                seq: i as u64,
                rows: m.rows,
                public: m.public,
                parts,
                signature: [0; 64],
                origin: Some(ChunkOrigin {
                    file_hash: [0x42; 32],
                    index,
                    count,
                }),
            };
            c.sign("bench", "scratch", &key);
            out.push(c);
        }
        out
    };
    let run = |mut store: Store| -> Result<f64, BenchError> {
        store.register_source("scratch", &key.verifying_key())?;
        let t = Instant::now();
        for batch in chunks.chunks(8) {
            store.append_chunks("bench", BENCH_SCHEMA, "scratch", batch)?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    // Alternating rounds, the fastest of each kind (the least disturbed by other work).
    let (mut with, mut without) = (f64::INFINITY, f64::INFINITY);
    for round in 0..5 {
        let d = scratch.join(format!("with-ledger-{round}"));
        with = with.min(run(Store::create(&d)?)?);
        let _ = std::fs::remove_dir_all(&d);
        let d = scratch.join(format!("without-ledger-{round}"));
        without = without.min(run(Store::create_scratch_unledgered(&d)?)?);
        let _ = std::fs::remove_dir_all(&d);
    }
    Ok((with, without))
}

fn matches(released: &[Cell], plain: &[f64; 3]) -> bool {
    released.len() == 3
        && released
            .iter()
            .zip(plain)
            .all(|(c, &p)| dtfhe_embedded::reference::cell_matches(c, &Cell::Float(p), None))
}

/// Measure one row count.
pub fn measure(rows: usize, preset: &str) -> Result<Figures, BenchError> {
    let tmp = crate::load::scratch_dir("dtfhe-bench-")?;
    let dir = tmp.path().join("deployment");
    let data = generate(rows, 20_240_601 ^ rows as u64);
    let csv_path = tmp.path().join("bench.csv");
    let schema_path = tmp.path().join("bench.toml");
    std::fs::write(&csv_path, to_csv(&data)).map_err(|e| BenchError::io(&csv_path, e))?;
    std::fs::write(&schema_path, BENCH_SCHEMA).map_err(|e| BenchError::io(&schema_path, e))?;

    ops::init(&ops::InitOptions::new(
        dir.clone(),
        &["a", "b", "c"],
        preset,
    ))?;
    let ing = ops::ingest(&ops::IngestOptions {
        dir: dir.clone().into(),
        schema: schema_path,
        csv: csv_path,
        source: "bench".into(),
        progress: false,
    })?;
    let mut f = Figures {
        rows,
        values: ing.encrypted_values,
        ingest_rate: ing.encrypted_values as f64 / ing.total_seconds.max(1e-9),
        encrypt_rate: ing.encrypted_values as f64 / ing.encrypt_seconds.max(1e-9),
        exact: true,
        ..Figures::default()
    };

    let (with_s, without_s) = ledger_cost(&dir, tmp.path())?;
    let values = ing.encrypted_values as f64;
    f.store_rate = (values / with_s.max(1e-9), values / without_s.max(1e-9));
    f.ledger_share = (with_s - without_s).max(0.0) / ing.total_seconds.max(1e-9);

    {
        let slots = ops::open(&dir)?.params.slots();
        let store = find_store(&dir)?;
        let (mut product, mut sum) = (0u64, 0u64);
        let chunks = store.chunks("bench")?;
        for chunk in &chunks {
            for part in store.parts(chunk.id)? {
                match part.column.as_str() {
                    "x" | "y" => product += part.size,
                    "z" => sum += part.size,
                    _ => {}
                }
            }
        }
        f.product_bytes = product as f64 / (2 * rows) as f64;
        f.sum_bytes = sum as f64 / rows as f64;
        let capacity = (chunks.len() * slots).max(1) as f64;
        f.slot_bytes = (product as f64 / (2.0 * capacity), sum as f64 / capacity);
    }

    for grouped in [false, true] {
        let sql = if grouped { QUERY_GROUPED } else { QUERY };
        let t = Instant::now();
        let rep = ops::query(&dir, sql)?;
        let wall = t.elapsed().as_secs_f64();
        let figures = (
            rep.compute_seconds,
            rep.release_seconds,
            wall,
            rep.released_ciphertexts,
        );
        let t = Instant::now();
        let plain = plain_stats(&data, grouped);
        let plain_s = t.elapsed().as_secs_f64();
        let ok = rep.result.rows.len() == plain.len()
            && rep.result.rows.iter().zip(plain.values()).all(|(r, p)| {
                let stats = if grouped { &r[1..] } else { &r[..] };
                matches(stats, p)
            });
        f.exact &= ok;
        if grouped {
            f.grouped = figures;
            f.plain.1 = plain_s;
        } else {
            f.query = figures;
            f.plain.0 = plain_s;
        }
    }

    // Model fit (from released aggregates) and per-row scoring released to the owner.
    let t = Instant::now();
    let (m, _) = dtfhe_embedded::model::fit(&dir, "bench", "y", &["x".to_string()], 0.0)?;
    f.model.0 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let scored = dtfhe_embedded::model::score(&dir, &m, "bench", "bench")?;
    f.model.1 = t.elapsed().as_secs_f64();
    f.exact &= scored.result.rows.len() == rows;
    Ok(f)
}

fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// Render the figures as a markdown table with targets and the OpenFHE reference.
pub fn table(figs: &[Figures], preset: &str) -> String {
    let mut rows: Vec<(String, Vec<String>, &str, &str)> = Vec::new();
    let col = |g: &dyn Fn(&Figures) -> String| figs.iter().map(g).collect::<Vec<_>>();
    rows.push((
        "ingest, end to end (values/s)".into(),
        col(&|f| thousands(f.ingest_rate)),
        "≥ 2,000,000",
        "",
    ));
    rows.push((
        "encryption alone (values/s)".into(),
        col(&|f| thousands(f.encrypt_rate)),
        "",
        "",
    ));
    rows.push((
        "store stage WITH ledger + signature checks (values/s)".into(),
        col(&|f| thousands(f.store_rate.0)),
        "",
        "",
    ));
    rows.push((
        "store stage WITHOUT ledger, scratch store (values/s)".into(),
        col(&|f| thousands(f.store_rate.1)),
        "",
        "",
    ));
    rows.push((
        "ledger cost: store stage / end-to-end ingest time".into(),
        col(&|f| {
            format!(
                "{:+.1}% / {:.1}%",
                100.0 * (f.store_rate.1 / f.store_rate.0.max(1e-9) - 1.0),
                100.0 * f.ledger_share
            )
        }),
        "< 10%",
        "",
    ));
    rows.push((
        "bytes at rest / value, product columns x, y".into(),
        col(&|f| format!("{:.1}", f.product_bytes)),
        "≤ 40",
        "81",
    ));
    rows.push((
        "bytes at rest / value, sum-only column z".into(),
        col(&|f| format!("{:.1}", f.sum_bytes)),
        "≤ 32",
        "81",
    ));
    rows.push((
        "  per slot of a full chunk: product / sum-only".into(),
        col(&|f| format!("{:.1} / {:.1}", f.slot_bytes.0, f.slot_bytes.1)),
        "",
        "",
    ));
    rows.push((
        "AVG+STDDEV+CORR: compute on ciphertexts (s)".into(),
        col(&|f| format!("{:.3}", f.query.0)),
        "",
        "",
    ));
    rows.push((
        "AVG+STDDEV+CORR: release, 3 trustees (s)".into(),
        col(&|f| format!("{:.3}", f.query.1)),
        "",
        "",
    ));
    rows.push((
        "AVG+STDDEV+CORR: end to end (s)".into(),
        col(&|f| format!("{:.3}", f.query.2)),
        "≤ 1.5 at 1M rows",
        "6.5 at 1M rows",
    ));
    rows.push((
        "  sums released".into(),
        col(&|f| f.query.3.to_string()),
        "",
        "",
    ));
    rows.push((
        "same, GROUP BY line (4 groups), end to end (s)".into(),
        col(&|f| format!("{:.3}", f.grouped.2)),
        "",
        "",
    ));
    rows.push((
        "  GROUP BY / ungrouped, end to end".into(),
        col(&|f| format!("{:.2}×", f.grouped.2 / f.query.2.max(1e-9))),
        "≤ 1.5×",
        "",
    ));
    rows.push((
        "  compute / release (s)".into(),
        col(&|f| format!("{:.3} / {:.3}", f.grouped.0, f.grouped.1)),
        "",
        "",
    ));
    rows.push((
        "plaintext f64, same statistics (s)".into(),
        col(&|f| format!("{:.4}", f.plain.0)),
        "",
        "",
    ));
    rows.push((
        "encrypted / plaintext time".into(),
        col(&|f| format!("{:.0}×", f.query.2 / f.plain.0.max(1e-9))),
        "",
        "",
    ));
    rows.push((
        "encrypted / plaintext time, GROUP BY".into(),
        col(&|f| format!("{:.0}×", f.grouped.2 / f.plain.1.max(1e-9))),
        "",
        "",
    ));
    rows.push((
        "model fit y ~ x from released sums (s)".into(),
        col(&|f| format!("{:.2}", f.model.0)),
        "",
        "",
    ));
    rows.push((
        "model score, every row, released to its owner (s)".into(),
        col(&|f| format!("{:.2}", f.model.1)),
        "",
        "",
    ));
    rows.push((
        "released values equal plaintext".into(),
        col(&|f| if f.exact { "yes".into() } else { "NO".into() }),
        "yes",
        "",
    ));

    let mut head = vec!["measure".to_string()];
    head.extend(
        figs.iter()
            .map(|f| format!("{} rows", thousands(f.rows as f64))),
    );
    head.push("target".into());
    head.push("OpenFHE threshold BFV".into());
    let body: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(name, vals, target, reference)| {
            let mut r = vec![name];
            r.extend(vals);
            r.push(target.into());
            r.push(reference.into());
            r
        })
        .collect();
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            body.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(head[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &[String]| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = format!(
        "Preset {preset}, 3 trustees, {} threads.\n\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    out += &line(&head);
    out += &format!(
        "|{}|\n",
        widths
            .iter()
            .enumerate()
            .map(|(i, w)| if i == 0 {
                format!(":{}", "-".repeat(w + 1))
            } else {
                format!("{}:", "-".repeat(w + 1))
            })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in &body {
        out += &line(r);
    }
    out
}

/// Run the benchmark for each row count and print the table.
pub fn run(rows: &[usize], preset: &str) -> Result<(), BenchError> {
    let mut figs = Vec::new();
    for &n in rows {
        eprintln!("bench: {n} rows …");
        figs.push(measure(n, preset)?);
    }
    println!("{}", table(&figs, preset));
    if figs.iter().any(|f| !f.exact) {
        return Err(BenchError::Mismatch(
            "a released benchmark statistic differs from the plaintext one".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_is_deterministic_and_in_range() {
        let a = generate(1000, 7);
        let b = generate(1000, 7);
        assert_eq!(a.x, b.x);
        assert!(a.x.iter().all(|&x| (0..10_000).contains(&x)));
        assert!(a.y.iter().all(|&y| (0..15_000).contains(&y)));
        assert!(a.line.iter().all(|&l| (1..=4).contains(&l)));
        let csv = to_csv(&a);
        let schema =
            dtfhe_model::Schema::from_toml_str(BENCH_SCHEMA, "bench.toml").expect("schema");
        let t = dtfhe_model::read_csv_bytes(csv.as_bytes(), "bench.csv", &schema).expect("csv");
        assert_eq!(t.rows, 1000);
    }

    #[test]
    fn plain_stats_are_sane() {
        let d = generate(5000, 1);
        let s = plain_stats(&d, false);
        let [mean, sd, corr] = s[&0];
        assert!((mean - 50.0).abs() < 3.0);
        assert!(sd > 25.0 && sd < 33.0);
        assert!(corr > 0.7 && corr < 0.95);
        assert_eq!(plain_stats(&d, true).len(), 4);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
    }
}
