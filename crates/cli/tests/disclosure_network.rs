//! Disclosure control in the networked deployment, every role its own `dtfhe` process: a
//! `serve` platform, three `trustee` daemons, two edge `agent`s and the analyst's
//! `query --server`. The attacks of `tests/disclosure.rs` (embedded) are tried again: each is
//! refused by the trustee daemons (exit 4, the reason reaching the analyst and naming the
//! earlier release `query <id>` it would combine with) or, in dp mode, gets noise charged to
//! every trustee's own budget log. Released results are checked against the plaintext.

mod common;

use common::net::*;
use common::*;

/// Checks on the shared networked deployment ([`common::net::Net`]; releases equal to the
/// plaintext: [`Net::released`], [`Net::released_on`]).
trait Checks {
    fn refused(&self, sql: &str) -> String;
    fn released_runs(&self, sql: &str) -> u64;
    fn spent(&self, dataset: &str) -> Vec<f64>;
}

impl Checks for Net {
    /// The query is refused (exit 4, nothing on stdout) by the trustees; returns the message
    /// (stderr after the analyst's progress line).
    fn refused(&self, sql: &str) -> String {
        let o = dtfhe(self.query_args(sql));
        let err = failed_with(&o, 4, sql);
        let e = err
            .split_once("error: refused: ")
            .unwrap_or_else(|| panic!("{sql}: {err}"))
            .1;
        assert!(e.contains("nothing was decrypted"), "{sql}: {e}");
        e.to_string()
    }

    /// The same over the production runs.
    fn released_runs(&self, sql: &str) -> u64 {
        let parts = [(dtfhe_agent::mes::production_runs(60, 7), "plant-a")];
        self.released_on(sql, "production_runs", &parts)
    }

    /// ε each trustee has charged to `dataset`, from its own log.
    fn spent(&self, dataset: &str) -> Vec<f64> {
        TRUSTEES
            .iter()
            .map(|t| {
                dtfhe_release::Disclosure::open(&self.trustee_dir(t))
                    .expect("policy")
                    .spent(dataset)
                    .expect("spent")
            })
            .collect()
    }
}

/// A trustee refuses (the analyst stops at the first refusal), naming the earlier release
/// `query {earlier}`.
fn names_earlier_release(e: &str, earlier: u64) {
    assert!(
        TRUSTEES
            .iter()
            .any(|t| e.contains(&format!("trustee {t} refuses"))),
        "{e}"
    );
    assert!(
        e.contains("together with earlier release")
            && e.contains(&format!("query {earlier}"))
            && e.contains("fewer than k = 5 rows"),
        "{e}"
    );
}

#[test]
fn networked_identifier_filters_and_small_sources_are_refused_by_default() {
    let net = network("disclosure_net_keys", &[]);
    for sql in UDI_FILTERS {
        let e = net.refused(sql);
        assert!(e.contains("column `udi` identifies rows"), "{sql}: {e}");
    }
    // Grouping by an identifier: one row per group, so the platform's fail-fast k check
    // refuses it before the trustees see it (whether identifiers may group at all is the
    // trustees' policy, which the platform does not know).
    let e = net.refused("SELECT product_id, COUNT(*), AVG(torque) FROM ai4i GROUP BY product_id");
    assert!(
        e.contains("group product_id = ") && e.contains("fewer than k = 5"),
        "{e}"
    );
    // A source with fewer than k rows never comes out, neither as a group nor by
    // subtracting the other source from the whole table.
    let whole = net.released("SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i");
    let e = net.refused("SELECT source, SUM(torque) FROM ai4i GROUP BY source");
    assert!(
        e.contains("source = 'tiny'") && e.contains("fewer than k"),
        "{e}"
    );
    let e =
        net.refused("SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE source IN ('plant-a')");
    names_earlier_release(&e, whole);
    // Squares and products of the small source's rows, by the same subtraction: refused.
    let var = net.released("SELECT VAR_POP(torque), COVAR_POP(torque, rpm) FROM ai4i");
    let e = net.refused(
        "SELECT VAR_POP(torque), COVAR_POP(torque, rpm) FROM ai4i WHERE source IN ('plant-a')",
    );
    names_earlier_release(&e, var);
    // Grouping by the public quality type after the whole table is safe: released.
    net.released("SELECT type, COUNT(*), AVG(torque) FROM ai4i GROUP BY type");
}

#[test]
fn networked_differencing_is_refused_by_every_trustee() {
    // Row-number filters allowed by the trustees: their audit alone must stop differencing.
    let net = network("disclosure_net_audit", &["--allow-key-filters"]);
    let sql100 = "SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 100";
    let first = net.released(sql100);
    let e = net.refused("SELECT COUNT(*), SUM(torque), SUM(rpm) FROM ai4i WHERE udi <= 99");
    names_earlier_release(&e, first);
    // The complement of one row against the whole table.
    let whole = net.released("SELECT COUNT(*), SUM(torque) FROM ai4i");
    let e = net.refused("SELECT COUNT(*), SUM(torque) FROM ai4i WHERE udi <> 7");
    names_earlier_release(&e, whole);
    // Which bucket one run is in (histogram, counts over a threshold), by differencing.
    let hist = net.released_runs(
        "SELECT HISTOGRAM(downtime_min), COUNT(*) FILTER (WHERE downtime_min > 60) \
         FROM production_runs WHERE run_id <= 50",
    );
    let e = net.refused("SELECT HISTOGRAM(downtime_min) FROM production_runs WHERE run_id <= 49");
    names_earlier_release(&e, hist);
    let e = net.refused(
        "SELECT COUNT(*) FILTER (WHERE downtime_min > 60) FROM production_runs \
         WHERE run_id <> 50 AND run_id <= 50",
    );
    names_earlier_release(&e, hist);
    // The same query asked again reveals nothing new: released (the logged shares).
    net.released(sql100);
    // Each trustee keeps its own audit record in its own directory.
    for t in TRUSTEES {
        let f = net.trustee_dir(t).join("disclosure.audit");
        assert!(f.metadata().expect("audit record").len() > 0, "{t}");
    }
}

#[test]
fn networked_dp_mode_noises_a_query_without_epsilon_and_charges_every_trustee() {
    let net = network(
        "disclosure_net_dp",
        &["--dp-budget", "1", "--dp-epsilon", "0.25"],
    );
    // No --epsilon: each trustee applies its policy's default; never an exact release.
    let o = dtfhe(net.query_args("SELECT COUNT(*), SUM(torque) FROM ai4i"));
    let (_, err) = texts(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("differential privacy") && err.contains("0.25"),
        "{err}"
    );
    assert_eq!(net.spent("ai4i"), vec![0.25; 3]);
    // Until the budget runs out: then every trustee refuses, and nothing more is spent.
    let mut refusals = 0;
    for t in ["'M'", "'H'", "'L'", "'L' OR type = 'M'"] {
        let o = dtfhe(net.query_args(&format!(
            "SELECT COUNT(*), SUM(torque) FROM ai4i WHERE type = {t}"
        )));
        if !o.status.success() {
            let err = texts(&o).1;
            assert_eq!(o.status.code(), Some(4), "{err}");
            assert!(err.contains("budget"), "{err}");
            refusals += 1;
        }
    }
    assert_eq!(
        refusals, 1,
        "a budget of 1 pays for exactly 4 queries of 0.25"
    );
    assert_eq!(net.spent("ai4i"), vec![1.0; 3]);
}
