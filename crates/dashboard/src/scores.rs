//! A source's own predicted remaining life per asset: the view a dashboard shows only when
//! it runs *as the source that owns the rows* (`--model M.json` with a source's identity,
//! or `--dir D --source SOURCE`).
//!
//! Per-row scoring (`dtfhe model score`) releases each row's prediction only to the rows'
//! owner: every trustee checks the rows are the requester's own and that the model was
//! fitted from released aggregates, then seals its share to a key only the requesting
//! process holds (networked) — this process. An analyst's dashboard never receives it, so
//! there the view list keeps explaining what the source runs instead.
//!
//! The view groups the released predictions by a public column naming the asset (C-MAPSS:
//! the engine `unit`; AI4I: `product_id`) and shows, per asset, the prediction of its latest
//! row (by a public order column such as `cycle`, else the last row stored). No value is
//! ever logged.

use crate::backend::Backend;
use crate::error::DashboardError;
use dtfhe_engine::model::LinearModel;
use dtfhe_engine::{Cell, ResultSet};
use dtfhe_model::Schema;
use std::cmp::Ordering;

/// The view's URL path segment (`/views/remaining-life`).
pub const ID: &str = "remaining-life";

/// The view's page.
pub const HREF: &str = "/views/remaining-life";

/// The view's title.
pub const TITLE: &str = "Predicted remaining life per asset";

/// What the dashboard asks for to run as a source (the CLI's `--model`, `--source`,
/// `--score-dataset`, `--asset`, `--latest-by`, `--score-unit`), checked by
/// [`Scoring::new`] against the deployment.
#[derive(Debug, Clone)]
pub struct ScoringOptions {
    /// The model, fitted by `dtfhe model fit` from released aggregates.
    pub model: LinearModel,
    /// The dataset scored (default: the model's own dataset).
    pub dataset: Option<String>,
    /// The public column naming the asset (default: the dataset's first public column).
    pub asset: Option<String>,
    /// A public column ordering an asset's rows (e.g. `cycle`): the latest row's prediction
    /// is the asset's. Default: the last row as stored.
    pub latest_by: Option<String>,
    /// The unit of the prediction, for the chart's axis and the table's caption.
    pub unit: Option<String>,
    /// Embedded: the source whose rows are scored (the deployment must hold its signing
    /// key). Networked: the identity's own name; if given, it must be that name.
    pub source: Option<String>,
}

/// How this dashboard scores its source's own rows (checked against the deployment).
#[derive(Debug, Clone)]
pub struct Scoring {
    /// The model.
    pub model: LinearModel,
    /// The dataset scored (as the deployment spells it).
    pub dataset: String,
    /// The public column naming the asset.
    pub asset: String,
    /// The public column ordering an asset's rows, if any.
    pub latest_by: Option<String>,
    /// The prediction's unit.
    pub unit: String,
    /// The source that owns the rows (and receives the predictions).
    pub source: String,
}

fn usage(what: String) -> DashboardError {
    DashboardError::Usage(what)
}

/// The public column `name` of `schema`, or why not (`what`: the option naming it).
fn public_column(schema: &Schema, name: &str, what: &str) -> Result<String, DashboardError> {
    let publics: Vec<&str> = schema.public_columns().map(|c| c.name.as_str()).collect();
    match schema.column(name) {
        Some(c) if !c.is_encrypted() => Ok(c.name.clone()),
        Some(_) => Err(usage(format!(
            "{what} `{name}`: an encrypted column of `{}` (the asset and its order must be \
             public columns: {})",
            schema.dataset,
            publics.join(", ")
        ))),
        None => Err(usage(format!(
            "{what} `{name}`: no such column in `{}` (public columns: {})",
            schema.dataset,
            publics.join(", ")
        ))),
    }
}

impl Scoring {
    /// Checks `o` against the deployment: the dataset exists and has the model's feature
    /// columns, the asset and order columns are public, the source owns rows of it, and —
    /// networked — the identity is registered as a source (an analyst's dashboard does not
    /// offer this view: the trustees release per-row predictions only to their owner).
    pub fn new(backend: &Backend, o: ScoringOptions) -> Result<Scoring, DashboardError> {
        let source = match backend {
            Backend::Embedded { .. } => o.source.clone().ok_or_else(|| {
                usage(
                    "--model with --dir: give --source SOURCE, the source whose own rows are \
                     scored (as `dtfhe model score --dir D --source SOURCE`)"
                        .into(),
                )
            })?,
            Backend::Networked { .. } => {
                let (name, role) = backend.identity_role()?;
                if let Some(given) = &o.source {
                    if given != &name {
                        return Err(usage(format!(
                            "--source {given}: networked, the rows scored are the identity's \
                             own (`{name}`)"
                        )));
                    }
                }
                if role != "source" {
                    return Err(usage(format!(
                        "--model: the predicted remaining life per asset is released only to \
                         the source that owns the rows, and `{name}` is registered as {role}: \
                         start the dashboard with a source's identity, or without --model"
                    )));
                }
                name
            }
        };
        let wanted = o.dataset.clone().unwrap_or_else(|| o.model.dataset.clone());
        let schemas = backend.schemas()?;
        let schema = schemas
            .iter()
            .find(|s| s.dataset.eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| usage(format!("--score-dataset: no dataset `{wanted}`")))?;
        let features: Vec<&str> = o.model.features.iter().map(String::as_str).collect();
        dtfhe_engine::model::check_model_columns(schema, &features).map_err(|e| {
            usage(format!(
                "--model: the model's features do not fit `{}`: {e}",
                schema.dataset
            ))
        })?;
        let asset = match &o.asset {
            Some(a) => public_column(schema, a, "--asset")?,
            None => schema
                .public_columns()
                .next()
                .map(|c| c.name.clone())
                .ok_or_else(|| {
                    usage(format!(
                        "`{}` has no public column to name its assets",
                        schema.dataset
                    ))
                })?,
        };
        let latest_by = match &o.latest_by {
            Some(c) => Some(public_column(schema, c, "--latest-by")?),
            None => None,
        };
        if backend.source_chunks(&schema.dataset, &source)? == 0 {
            return Err(usage(format!(
                "source `{source}` has no rows in `{}`: nothing of its own to score",
                schema.dataset
            )));
        }
        let unit = o
            .unit
            .clone()
            .unwrap_or_else(|| format!("{}, the model's target", o.model.target));
        Ok(Scoring {
            dataset: schema.dataset.clone(),
            model: o.model,
            asset,
            latest_by,
            unit,
            source,
        })
    }

    /// The name of the prediction column (`predicted_<target>`).
    pub fn prediction_column(&self) -> String {
        format!("predicted_{}", self.model.target)
    }

    /// The columns of [`per_asset`]'s table.
    pub fn columns(&self) -> Vec<String> {
        let mut cols = vec![self.asset.clone(), "rows_scored".to_string()];
        if let Some(l) = &self.latest_by {
            cols.push(format!("last_{l}"));
        }
        cols.push(self.prediction_column());
        cols
    }
}

/// What stands behind the released predictions.
#[derive(Debug, Clone)]
pub struct ScoreFacts {
    /// The owner the predictions were released to.
    pub source: String,
    /// Trustees that approved, with the time of their approval (unix seconds).
    pub approvals: Vec<(String, u64)>,
    /// When the predictions were released (unix seconds).
    pub released_unix: u64,
    /// Rows scored.
    pub rows: usize,
    /// Ciphertexts decrypted (one per chunk).
    pub ciphertexts: usize,
    /// The release in the ledger's words (`release N, delivered in entry M`; networked:
    /// the platform's query id), if known.
    pub release: Option<String>,
    /// Why the trustees accepted the model (its `model fit` ledger entry, or its
    /// registration on the platform).
    pub model: String,
}

/// The source's predictions per asset with their release facts.
#[derive(Debug, Clone)]
pub struct Scored {
    /// One row per asset: the asset, rows scored, the latest order value (if any), the
    /// prediction of its latest row.
    pub table: ResultSet,
    /// The release facts.
    pub facts: ScoreFacts,
}

/// Orders two cells: numbers by value, anything else by its text.
fn compare(a: &Cell, b: &Cell) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => text(a).cmp(&text(b)),
    }
}

fn text(c: &Cell) -> String {
    c.text(None).unwrap_or_default()
}

/// Groups the released per-row predictions (`dtfhe model score`'s table: the dataset's
/// public columns, `source`, `prediction`) by the asset column: per asset, its rows and
/// the prediction of its latest row (greatest `latest_by`, else the last in order). Assets
/// in increasing order (numbers by value). A row without an asset is left out.
pub fn per_asset(scoring: &Scoring, scored: &ResultSet) -> Result<ResultSet, DashboardError> {
    let col = |name: &str| {
        scored
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| {
                DashboardError::Deployment(format!("the released scores have no column `{name}`"))
            })
    };
    let asset = col(&scoring.asset)?;
    let prediction = col("prediction")?;
    let order = scoring.latest_by.as_deref().map(col).transpose()?;
    // (asset, rows, latest order value, prediction)
    let mut groups: Vec<(Cell, i64, Cell, Cell)> = Vec::new();
    for row in &scored.rows {
        let Some(a) = row.get(asset).filter(|c| !matches!(c, Cell::Null)) else {
            continue;
        };
        let o = order
            .and_then(|i| row.get(i))
            .cloned()
            .unwrap_or(Cell::Null);
        let p = row.get(prediction).cloned().unwrap_or(Cell::Null);
        match groups.iter_mut().find(|g| &g.0 == a) {
            Some(g) => {
                g.1 += 1;
                // Ties and a missing order keep the later row (stored order).
                if order.is_none() || compare(&o, &g.2) != Ordering::Less {
                    g.2 = o;
                    g.3 = p;
                }
            }
            None => groups.push((a.clone(), 1, o, p)),
        }
    }
    groups.sort_by(|x, y| compare(&x.0, &y.0));
    let columns = scoring.columns();
    let rows = groups
        .into_iter()
        .map(|(a, n, o, p)| {
            let mut row = vec![a, Cell::Int(n)];
            if order.is_some() {
                row.push(o);
            }
            row.push(p);
            row
        })
        .collect();
    Ok(ResultSet {
        decimals: vec![None; columns.len()],
        columns,
        rows,
        keys: Vec::new(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scoring(latest_by: Option<&str>) -> Scoring {
        Scoring {
            model: LinearModel::from_json(
                r#"{"format":"dtfhe-linear-model/1","dataset":"engines_train","target":"rul","features":["age"],"intercept":1,"coefficients":[1],"ridge":0,"n":3,"rmse_train":0}"#,
            )
            .unwrap(),
            dataset: "engines_test".into(),
            asset: "unit".into(),
            latest_by: latest_by.map(str::to_string),
            unit: "cycles".into(),
            source: "fleet".into(),
        }
    }

    fn released(rows: &[(i64, i64, f64)]) -> ResultSet {
        ResultSet {
            columns: vec![
                "unit".into(),
                "cycle".into(),
                "source".into(),
                "prediction".into(),
            ],
            rows: rows
                .iter()
                .map(|(u, c, p)| {
                    vec![
                        Cell::Int(*u),
                        Cell::Int(*c),
                        Cell::Text("fleet".into()),
                        Cell::Float(*p),
                    ]
                })
                .collect(),
            decimals: vec![None; 4],
            keys: Vec::new(),
        }
    }

    #[test]
    fn each_asset_gets_the_prediction_of_its_latest_row() {
        let r = released(&[
            (10, 1, 90.0),
            (2, 5, 40.0),
            (10, 3, 70.5),
            (10, 2, 80.0),
            (2, 4, 41.0),
        ]);
        let t = per_asset(&scoring(Some("cycle")), &r).unwrap();
        assert_eq!(
            t.columns,
            ["unit", "rows_scored", "last_cycle", "predicted_rul"]
        );
        // Numeric assets in numeric order (2 before 10).
        assert_eq!(
            t.rows,
            vec![
                vec![Cell::Int(2), Cell::Int(2), Cell::Int(5), Cell::Float(40.0)],
                vec![Cell::Int(10), Cell::Int(3), Cell::Int(3), Cell::Float(70.5)],
            ]
        );
        // Without an order column: the last row stored.
        let t = per_asset(&scoring(None), &r).unwrap();
        assert_eq!(t.columns, ["unit", "rows_scored", "predicted_rul"]);
        assert_eq!(
            t.rows[0],
            vec![Cell::Int(2), Cell::Int(2), Cell::Float(41.0)]
        );
        assert_eq!(
            t.rows[1],
            vec![Cell::Int(10), Cell::Int(3), Cell::Float(80.0)]
        );
    }

    #[test]
    fn a_missing_column_is_an_error_not_a_panic() {
        let mut s = scoring(Some("cycle"));
        s.asset = "product_id".into();
        let e = per_asset(&s, &released(&[(1, 1, 1.0)])).unwrap_err();
        assert!(e.to_string().contains("product_id"), "{e}");
    }
}
