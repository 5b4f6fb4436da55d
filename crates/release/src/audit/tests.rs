//! Unit tests: the tracker attacks, cases an exact solver shows safe, and a property test
//! against an independent brute-force solver on row-level vectors.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// A small table: each row has public attributes; rows live in chunks of `chunk` rows of
/// source "s" (or the source given per row).
#[derive(Clone, Debug)]
struct Table {
    /// Per row: (source, attributes).
    rows: Vec<(String, Vec<u32>)>,
    chunk: usize,
}

impl Table {
    fn new(attrs: Vec<Vec<u32>>, chunk: usize) -> Table {
        Table {
            rows: attrs.into_iter().map(|a| ("s".to_owned(), a)).collect(),
            chunk,
        }
    }

    /// (chunk key, row index in chunk, rows in that chunk) of every row; chunks are cut per source.
    fn layout(&self) -> Vec<(ChunkKey, u32, u32)> {
        let mut per_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (s, _)) in self.rows.iter().enumerate() {
            per_source.entry(s).or_default().push(i);
        }
        let mut out = vec![
            (
                ChunkKey {
                    source: String::new(),
                    seq: 0
                },
                0,
                0
            );
            self.rows.len()
        ];
        for (s, idx) in per_source {
            for (ci, part) in idx.chunks(self.chunk).enumerate() {
                for (r, &i) in part.iter().enumerate() {
                    out[i] = (
                        ChunkKey {
                            source: s.to_owned(),
                            seq: ci as u64,
                        },
                        r as u32,
                        part.len() as u32,
                    );
                }
            }
        }
        out
    }

    /// The row set of the rows (by table index) in `members`.
    fn set(&self, members: &[usize]) -> RowSet {
        let lay = self.layout();
        let mut chunks: BTreeMap<ChunkKey, (u32, Vec<u32>)> = BTreeMap::new();
        for &i in members {
            let (key, r, n) = lay[i].clone();
            chunks.entry(key).or_insert((n, Vec::new())).1.push(r);
        }
        let mut set = RowSet::default();
        for (key, (n, mut sel)) in chunks {
            sel.sort_unstable();
            // Exercise both encodings.
            let rows = if n % 2 == 0 {
                ChunkRows::of(n, sel)
            } else {
                ChunkRows::Some {
                    rows: n,
                    selected: sel,
                }
            };
            set.chunks.insert(key, rows);
        }
        set
    }

    fn filter(&self, pred: impl Fn(usize, &[u32]) -> bool) -> Vec<usize> {
        (0..self.rows.len())
            .filter(|&i| pred(i, &self.rows[i].1))
            .collect()
    }

    /// One row set per value of attribute `attr` among the rows passing `pred`.
    fn group_by(&self, attr: usize, pred: impl Fn(usize, &[u32]) -> bool) -> Vec<RowSet> {
        let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for i in self.filter(pred) {
            groups.entry(self.rows[i].1[attr]).or_default().push(i);
        }
        groups.values().map(|m| self.set(m)).collect()
    }
}

/// Table of `n` rows with udi = row number + 1 (attribute 0) and type = row % 3 (attribute 1).
fn udi_table(n: usize) -> Table {
    Table::new(
        (0..n).map(|i| vec![i as u32 + 1, (i % 3) as u32]).collect(),
        64,
    )
}

fn release(a: &mut Auditor, id: &str, groups: &[RowSet], k: u64) -> Result<(), Refusal> {
    match a.check("d", groups, k) {
        Ok(ap) => {
            a.commit(ap, id).expect("commit in memory");
            Ok(())
        }
        Err(CheckError::Refused(r)) => Err(r),
        Err(e) => panic!("unexpected error {e}"),
    }
}

// ---------- independent brute force: Gaussian elimination mod 1_000_000_007 on row vectors ----

const Q: u64 = 1_000_000_007;

fn pow_q(b: u64, e: u64) -> u64 {
    dtfhe_crypto::params::pow_mod(b, e, Q)
}

fn rank_q(vectors: &[Vec<u64>]) -> usize {
    let mut m: Vec<Vec<u64>> = vectors.to_vec();
    let cols = m.first().map_or(0, Vec::len);
    let mut rank = 0;
    for col in 0..cols {
        let Some(p) = (rank..m.len()).find(|&r| m[r][col] != 0) else {
            continue;
        };
        m.swap(rank, p);
        let inv = pow_q(m[rank][col], Q - 2);
        for x in m[rank].iter_mut() {
            *x = *x * inv % Q;
        }
        for r in 0..m.len() {
            if r != rank && m[r][col] != 0 {
                let f = m[r][col];
                let pivot_row = m[rank].clone();
                for (x, p) in m[r].iter_mut().zip(&pivot_row) {
                    *x = (*x + Q - f * p % Q) % Q;
                }
            }
        }
        rank += 1;
    }
    rank
}

/// Whether `target` lies in the span of `vectors` (rank does not grow when it is added).
fn in_span(vectors: &[Vec<u64>], target: &[u64]) -> bool {
    let mut with = vectors.to_vec();
    with.push(target.to_vec());
    rank_q(vectors) == rank_q(&with)
}

fn indicator(n: usize, members: &[usize]) -> Vec<u64> {
    let mut v = vec![0; n];
    for &i in members {
        v[i] = 1;
    }
    v
}

/// Rows (by table index) whose unit vector is in the span of the released row sets.
fn derivable_rows(n: usize, released: &[Vec<usize>]) -> Vec<usize> {
    let vs: Vec<Vec<u64>> = released.iter().map(|m| indicator(n, m)).collect();
    (0..n)
        .filter(|&i| in_span(&vs, &indicator(n, &[i])))
        .collect()
}

/// The partition of rows by membership signature (rows in no set left out), computed directly.
fn signature_classes(n: usize, released: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut classes: BTreeMap<Vec<bool>, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let sig: Vec<bool> = released.iter().map(|m| m.contains(&i)).collect();
        if sig.iter().any(|&b| b) {
            classes.entry(sig).or_default().push(i);
        }
    }
    classes.into_values().collect()
}

/// Whether some signature class of fewer than k rows has a derivable total.
fn exposes_small_class(n: usize, released: &[Vec<usize>], k: usize) -> bool {
    let vs: Vec<Vec<u64>> = released.iter().map(|m| indicator(n, m)).collect();
    signature_classes(n, released)
        .iter()
        .any(|c| c.len() < k && in_span(&vs, &indicator(n, c)))
}

// ---------- the attacks ----------

#[test]
fn prefix_sums_are_refused_and_name_the_first_release() {
    let t = udi_table(200);
    let mut a = Auditor::in_memory();
    release(&mut a, "q-100", &[t.set(&t.filter(|_, r| r[0] <= 100))], 5).expect("first");
    let r = release(&mut a, "q-99", &[t.set(&t.filter(|_, r| r[0] <= 99))], 5)
        .expect_err("differencing must be refused");
    assert_eq!(r.combines_with, vec!["q-100".to_owned()]);
    let msg = r.to_string();
    assert!(
        msg.contains("q-100") && msg.contains("fewer than k = 5 rows"),
        "{msg}"
    );
    assert!(!msg.contains(" 1 row"), "{msg}");
    // Reverse order: the larger range after the smaller one is refused too, naming the first.
    let mut b = Auditor::in_memory();
    release(&mut b, "q-99", &[t.set(&t.filter(|_, r| r[0] <= 99))], 5).expect("first");
    let r =
        release(&mut b, "q-100", &[t.set(&t.filter(|_, r| r[0] <= 100))], 5).expect_err("refused");
    assert_eq!(r.combines_with, vec!["q-99".to_owned()]);
}

#[test]
fn complement_is_refused() {
    let t = udi_table(50);
    let mut a = Auditor::in_memory();
    release(&mut a, "all", &[t.set(&t.filter(|_, _| true))], 5).expect("whole table");
    let r = release(&mut a, "not7", &[t.set(&t.filter(|_, r| r[0] != 7))], 5).expect_err("refused");
    assert_eq!(r.combines_with, vec!["all".to_owned()]);
}

#[test]
fn small_source_against_whole_table_is_refused() {
    // Source "small" holds 3 rows, "big" 40.
    let mut t = udi_table(43);
    for (i, row) in t.rows.iter_mut().enumerate() {
        row.0 = if i < 3 { "small" } else { "big" }.to_owned();
    }
    let mut a = Auditor::in_memory();
    release(&mut a, "all", &[t.set(&t.filter(|_, _| true))], 5).expect("whole table");
    let big: Vec<usize> = (3..43).collect();
    let r = release(&mut a, "big-only", &[t.set(&big)], 5).expect_err("refused");
    assert_eq!(r.combines_with, vec!["all".to_owned()]);
    // GROUP BY source releases the small group directly: refused on its own.
    let mut b = Auditor::in_memory();
    let r =
        release(&mut b, "by-source", &[t.set(&[0, 1, 2]), t.set(&big)], 5).expect_err("refused");
    assert!(r.combines_with.is_empty());
    assert!(r.to_string().contains("fewer than k = 5 rows"));
}

#[test]
fn group_by_then_near_where_is_refused() {
    let t = udi_table(90);
    let mut a = Auditor::in_memory();
    release(&mut a, "by-type", &t.group_by(1, |_, _| true), 5).expect("group by type");
    // Type 0 minus two rows.
    let r = release(
        &mut a,
        "near",
        &[t.set(&t.filter(|_, r| r[1] == 0 && r[0] != 1 && r[0] != 4))],
        5,
    )
    .expect_err("refused");
    assert_eq!(r.combines_with, vec!["by-type".to_owned()]);
}

#[test]
fn same_query_twice_is_approved() {
    let t = udi_table(60);
    let mut a = Auditor::in_memory();
    let q = t.group_by(1, |_, r| r[0] <= 40);
    release(&mut a, "q1", &q, 5).expect("first");
    let before = a.state().clone();
    release(&mut a, "q1-retry", &q, 5).expect("identical sets add nothing");
    let (now, then) = (&a.state().datasets["d"], &before.datasets["d"]);
    assert_eq!(now.chunks, then.chunks, "cells unchanged");
    assert_eq!(now.counts, then.counts);
    assert_eq!(now.basis, then.basis, "basis unchanged");
}

#[test]
fn nested_ranges_far_apart_are_approved() {
    let t = udi_table(200);
    let mut a = Auditor::in_memory();
    release(&mut a, "100", &[t.set(&t.filter(|_, r| r[0] <= 100))], 5).expect("first");
    release(&mut a, "90", &[t.set(&t.filter(|_, r| r[0] <= 90))], 5).expect("10 rows apart");
    release(&mut a, "95", &[t.set(&t.filter(|_, r| r[0] <= 95))], 5).expect("5 rows apart");
    release(&mut a, "150", &[t.set(&t.filter(|_, r| r[0] <= 150))], 5).expect("50 apart");
    let r = release(&mut a, "97", &[t.set(&t.filter(|_, r| r[0] <= 97))], 5).expect_err("2 apart");
    // The rows 96..=100 are split by "97"; the small parts come out with "100" (and "95").
    assert!(
        r.combines_with.contains(&"100".to_owned()),
        "{:?}",
        r.combines_with
    );
}

#[test]
fn one_refused_dataset_refuses_the_whole_join() {
    let t = udi_table(30);
    let mut a = Auditor::in_memory();
    let all = [t.set(&t.filter(|_, _| true))];
    let ap = a
        .check_many(&[("a", &all), ("b", &all)], 5)
        .expect("both fine");
    a.commit(ap, "join1").expect("commit");
    let near = [t.set(&t.filter(|_, r| r[0] != 3))];
    let before = a.state().clone();
    match a.check_many(&[("a", &all), ("b", &near)], 5) {
        Err(CheckError::Refused(r)) => {
            assert_eq!(r.dataset, "b");
            assert_eq!(r.combines_with, vec!["join1".to_owned()]);
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    assert_eq!(a.state(), &before);
}

#[test]
fn a_self_join_is_audited_as_one_release() {
    // Both sides of `a JOIN a` name dataset "a": their row sets are audited together.
    let t = udi_table(30);
    let a = Auditor::in_memory();
    let all = [t.set(&t.filter(|_, _| true))];
    let near = [t.set(&t.filter(|_, r| r[0] != 3))];
    assert!(matches!(
        a.check_many(&[("a", &all), ("a", &near)], 5),
        Err(CheckError::Refused(_))
    ));
}

#[test]
fn a_group_below_k_is_refused_on_its_own() {
    let t = udi_table(30);
    let a = Auditor::in_memory();
    // Overlapping groups {0, 1} and {1, 2}: no cell (rows 0, 1 and 2 are one cell each) becomes
    // derivable, yet each group is itself the total of fewer than k = 3 rows.
    let (g1, g2) = (vec![0, 1], vec![1, 2]);
    let rest: Vec<usize> = (3..30).collect();
    assert!(!exposes_small_class(
        30,
        &[g1.clone(), g2.clone(), rest.clone()],
        3
    ));
    let r = a
        .check("d", &[t.set(&g1), t.set(&g2), t.set(&rest)], 3)
        .expect_err("refused");
    assert!(
        matches!(r, CheckError::Refused(Refusal { ref combines_with, .. }) if combines_with.is_empty())
    );
}

#[test]
fn stale_and_foreign_approvals_are_rejected() {
    let t = udi_table(30);
    let mut a = Auditor::in_memory();
    let q = [t.set(&t.filter(|_, r| r[0] <= 20))];
    let first = a.check("d", &q, 5).expect("ok");
    let second = a.check("d", &q, 5).expect("ok");
    a.commit(first, "one").expect("commit");
    assert!(matches!(
        a.commit(second, "two"),
        Err(AuditError::StaleApproval)
    ));
    let b = Auditor::in_memory();
    let foreign = b.check("d", &q, 5).expect("ok");
    assert!(matches!(
        a.commit(foreign, "x"),
        Err(AuditError::ForeignApproval)
    ));
}

#[test]
fn malformed_row_sets_are_rejected() {
    let key = ChunkKey {
        source: "s".into(),
        seq: 0,
    };
    let a = Auditor::in_memory();
    let bad = |rows: ChunkRows| RowSet {
        chunks: [(key.clone(), rows)].into_iter().collect(),
    };
    for rows in [
        ChunkRows::Some {
            rows: 5,
            selected: vec![2, 1],
        },
        ChunkRows::Some {
            rows: 5,
            selected: vec![1, 1],
        },
        ChunkRows::Some {
            rows: 5,
            selected: vec![5],
        },
        ChunkRows::All {
            rows: MAX_CHUNK_ROWS + 1,
        },
    ] {
        assert!(matches!(
            a.check("d", &[bad(rows)], 2),
            Err(CheckError::Invalid(_))
        ));
    }
    let mixed = [
        bad(ChunkRows::All { rows: 5 }),
        bad(ChunkRows::All { rows: 6 }),
    ];
    assert!(matches!(
        a.check("d", &mixed, 2),
        Err(CheckError::Invalid(InputError::ChunkSizeMismatch { .. }))
    ));
}

// ---------- cases an exact solver shows safe: the auditor must approve ----------

/// Table of 40 rows: source attribute (0..2), type (0..3), with some small intersections.
fn source_type_table() -> Table {
    let mut attrs = Vec::new();
    for i in 0..40u32 {
        let source = u32::from(i >= 22);
        let ty = if i < 2 { 2 } else { i % 3 };
        attrs.push(vec![i + 1, ty, source]);
    }
    Table::new(attrs, 16)
}

fn assert_safe_and_approved(t: &Table, queries: &[Vec<Vec<usize>>], k: u64) {
    let n = t.rows.len();
    let mut a = Auditor::in_memory();
    let mut released: Vec<Vec<usize>> = Vec::new();
    for (qi, q) in queries.iter().enumerate() {
        released.extend(q.iter().cloned());
        assert!(
            !exposes_small_class(n, &released, k as usize),
            "the exact solver must show query {qi} safe"
        );
        let sets: Vec<RowSet> = q.iter().map(|m| t.set(m)).collect();
        release(&mut a, &format!("q{qi}"), &sets, k).expect("a safe query must be approved");
    }
}

#[test]
fn group_by_type_after_group_by_source_is_approved() {
    let t = source_type_table();
    let by = |attr: usize| -> Vec<Vec<usize>> {
        let mut g: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for i in 0..t.rows.len() {
            g.entry(t.rows[i].1[attr]).or_default().push(i);
        }
        g.into_values().collect()
    };
    assert_safe_and_approved(&t, &[by(2), by(1)], 5);
    // And in the other order, then the whole table.
    assert_safe_and_approved(&t, &[by(1), by(2), vec![(0..40).collect()]], 5);
}

#[test]
fn whole_table_after_group_by_type_is_approved() {
    let t = source_type_table();
    let mut g: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for i in 0..t.rows.len() {
        g.entry(t.rows[i].1[1]).or_default().push(i);
    }
    assert_safe_and_approved(&t, &[g.into_values().collect(), vec![(0..40).collect()]], 5);
}

#[test]
fn disjoint_ranges_are_approved() {
    let t = udi_table(40);
    assert_safe_and_approved(&t, &[vec![(0..10).collect()], vec![(20..25).collect()]], 5);
}

// ---------- property test against the brute-force solver ----------

/// A WHERE-like predicate over three small attributes, with an optional GROUP BY attribute.
#[derive(Clone, Debug)]
struct Query {
    /// Per attribute: None (no condition), or (op, value): op 0 "=", 1 "<>", 2 "<=".
    conds: Vec<Option<(u8, u32)>>,
    group_by: Option<usize>,
}

impl Query {
    fn groups(&self, attrs: &[Vec<u32>]) -> Vec<Vec<usize>> {
        let mut g: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, a) in attrs.iter().enumerate() {
            let pass = self.conds.iter().enumerate().all(|(j, c)| match c {
                None => true,
                Some((0, v)) => a[j] == *v,
                Some((1, v)) => a[j] != *v,
                Some((_, v)) => a[j] <= *v,
            });
            if pass {
                let key = self.group_by.map_or(0, |j| a[j]);
                g.entry(key).or_default().push(i);
            }
        }
        g.into_values().collect()
    }
}

fn query_strategy() -> impl Strategy<Value = Query> {
    (
        proptest::collection::vec(proptest::option::of((0u8..3, 0u32..3)), 3),
        proptest::option::of(0usize..3),
    )
        .prop_map(|(conds, group_by)| Query { conds, group_by })
}

fn scenario() -> impl Strategy<Value = (Vec<Vec<u32>>, Vec<Query>, u64, usize)> {
    (
        proptest::collection::vec(proptest::collection::vec(0u32..3, 3), 12..30),
        proptest::collection::vec(query_strategy(), 1..10),
        2u64..5,
        3usize..9,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn auditor_agrees_with_brute_force((attrs, queries, k, chunk) in scenario()) {
        let n = attrs.len();
        let t = Table::new(attrs.clone(), chunk);
        let lay = t.layout();
        let mut a = Auditor::in_memory();
        let mut released: Vec<Vec<usize>> = Vec::new();
        for (qi, q) in queries.iter().enumerate() {
            let groups = q.groups(&attrs);
            let sets: Vec<RowSet> = groups.iter().map(|m| t.set(m)).collect();
            let mut tentative = released.clone();
            tentative.extend(groups.iter().cloned());
            let tiny_group = groups.iter().any(|g| g.len() < k as usize);
            let exposes = tiny_group || exposes_small_class(n, &tentative, k as usize);
            match a.check("d", &sets, k) {
                Ok(ap) => {
                    // Approved: nothing small becomes derivable, in particular no single row.
                    prop_assert!(!exposes, "query {} approved but exposes a small class", qi);
                    prop_assert!(derivable_rows(n, &tentative).is_empty());
                    a.commit(ap, &format!("q{qi}")).expect("commit");
                    released = tentative;
                }
                Err(CheckError::Refused(r)) => {
                    // Refusals are exact: a small class really becomes derivable.
                    prop_assert!(exposes, "query {} refused but the exact solver finds it safe", qi);
                    prop_assert!(r.combines_with.len() <= 5);
                }
                Err(e) => panic!("unexpected {e}"),
            }
            // The auditor's cells are the signature classes, and its derivability verdict per
            // cell matches the brute-force solver in both directions.
            let Some(st) = a.state.datasets.get("d") else { continue };
            let vs: Vec<Vec<u64>> = released.iter().map(|m| indicator(n, m)).collect();
            let mut cells: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for (i, (key, r, _)) in lay.iter().enumerate() {
                let c = st.chunks.get(key).map_or(0, |a| a[*r as usize]);
                if c != 0 {
                    cells.entry(c).or_default().push(i);
                }
            }
            let mut ours: Vec<Vec<usize>> = cells.values().cloned().collect();
            ours.sort();
            let mut theirs = signature_classes(n, &released);
            theirs.sort();
            prop_assert_eq!(ours, theirs);
            for (&c, members) in &cells {
                prop_assert_eq!(st.counts[c as usize], members.len() as u64);
                let brute = in_span(&vs, &indicator(n, members));
                prop_assert_eq!(st.basis.is_unit(c), brute, "cell {} derivability", c);
            }
        }
    }
}
