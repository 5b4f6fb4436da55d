//! NASA C-MAPSS FD001 (space-separated, no header) through the `dtfhe` binary with
//! `schemas/cmapss_fd001.toml`. Needs /work/shared/data; skipped with a message without it.

mod common;

use common::*;
use dtfhe_embedded::reference;
use dtfhe_model::Schema;

#[test]
fn cmapss_fd001_train() {
    let Some((data, _, dir)) = cmapss_train("cli_cmapss") else {
        return;
    };
    let schema_path = repo().join("schemas/cmapss_fd001.toml");
    let schema = Schema::from_toml_file(&schema_path).expect("schema");
    init(&dir, "operator,oem,mro", 5, "bfv-16384");
    let out = ingest(&dir, &schema_path, &data, "fleet-1");
    assert!(out.contains("20631 rows"), "{out}");
    let bytes = std::fs::read(&data).expect("read data");
    let rows = reference::plain_rows(&bytes, &schema, "fleet-1").expect("rows");
    assert_eq!(rows.len(), 20_631);
    assert_eq!(count_rows(&dir, "engines"), 20_631);

    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT COUNT(*), AVG(s2), STDDEV_SAMP(s2), AVG(s21), VAR_POP(s15), SUM(op1), \
         AVG(op2), SUM(op3), CORR(s3, s4), REGR_SLOPE(s4, s3), REGR_R2(s4, s3) FROM engines",
    );
    // Late-life cycles of a few engines, per engine.
    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT unit, COUNT(*) AS cycles, AVG(s11) AS s11, COVAR_SAMP(s7, s12) AS c \
         FROM engines WHERE unit IN (1, 2, 3) AND cycle > 100 GROUP BY unit ORDER BY unit",
    );
    check_query(
        &dir,
        &schema,
        &rows,
        "SELECT COUNT(*), AVG(s9), STDDEV_POP(s14), REGR_INTERCEPT(s20, s21) FROM engines \
         WHERE cycle BETWEEN 50 AND 150 AND NOT unit = 7",
    );
    let err = fails_with(4, query_args(&dir, "SELECT s2 FROM engines"));
    assert!(err.contains("`s2`"), "{err}");
}
