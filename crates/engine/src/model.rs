//! Predictive maintenance: linear ridge regression fitted from released aggregates only, and
//! homomorphic scoring of encrypted rows.
//!
//! The fit needs the centred Gram matrix Σ(x−x̄)(x−x̄)ᵀ, Σ(x−x̄)(y−ȳ), the means and n: that
//! is n·COVAR_POP of every feature pair, n·COVAR_POP(x, y), AVG and COUNT — ordinary
//! aggregates, released under the ordinary policy (k-minimum, bounds, every trustee). Ridge
//! penalises the coefficients, not the intercept: β = (Xcᵀ Xc + λI)⁻¹ Xcᵀ yc, b = ȳ − βᵀx̄.

use crate::error::EngineError;
use crate::finalize::Cell;
use crate::result::ResultSet;
use dtfhe_model::{ColumnKind, Schema, Usage};

/// A fitted linear model, as stored in `M.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// Dataset it was trained on.
    pub dataset: String,
    /// Target column.
    pub target: String,
    /// Feature columns, in coefficient order.
    pub features: Vec<String>,
    /// Intercept b.
    pub intercept: f64,
    /// Coefficients β.
    pub coefficients: Vec<f64>,
    /// Ridge penalty λ.
    pub ridge: f64,
    /// Training rows.
    pub n: u64,
    /// Root-mean-square error on the training rows.
    pub rmse_train: f64,
}

/// A model file that is not a valid model: says what is wrong.
fn bad_model(m: &str) -> EngineError {
    EngineError::Parse(format!("model file: {m}"))
}

/// The list `key` of a model file's JSON `v`, each item read by `item` (`None`: refused
/// with `wrong_item`).
fn json_list<T>(
    v: &serde_json::Value,
    key: &str,
    wrong_item: &str,
    item: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<Vec<T>, EngineError> {
    v[key]
        .as_array()
        .ok_or_else(|| bad_model(&format!("`{key}` must be a list")))?
        .iter()
        .map(|x| item(x).ok_or_else(|| bad_model(wrong_item)))
        .collect()
}

impl LinearModel {
    /// The prediction for one row of feature values.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.intercept
            + self
                .coefficients
                .iter()
                .zip(x)
                .map(|(b, v)| b * v)
                .sum::<f64>()
    }

    /// JSON form (`features`, `intercept`, `coefficients`, `n`, `rmse_train`, …).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "format": "dtfhe-linear-model/1",
            "dataset": self.dataset,
            "target": self.target,
            "features": self.features,
            "intercept": self.intercept,
            "coefficients": self.coefficients,
            "ridge": self.ridge,
            "n": self.n,
            "rmse_train": self.rmse_train,
        })
        .to_string()
    }

    /// The model's content address: blake3 of its canonical JSON ([`LinearModel::to_json`]),
    /// so reformatting the file changes nothing and changing any number makes it a model no
    /// fit produced. Ledger entries and signed statements name a model by it.
    pub fn hash(&self) -> [u8; 32] {
        *blake3::hash(self.to_json().as_bytes()).as_bytes()
    }

    /// Parse the JSON form, checking every field.
    pub fn from_json(text: &str) -> Result<LinearModel, EngineError> {
        let bad = bad_model;
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        if v["format"] != "dtfhe-linear-model/1" {
            return Err(bad("not a dtfhe-linear-model/1 document"));
        }
        let s = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("`{k}` must be a string")))
        };
        let f = |k: &str| {
            v[k].as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(&format!("`{k}` must be a number")))
        };
        let features = json_list(&v, "features", "feature names must be strings", |x| {
            x.as_str().map(str::to_string)
        })?;
        let coefficients = json_list(&v, "coefficients", "coefficients must be numbers", |x| {
            x.as_f64().filter(|c| c.is_finite())
        })?;
        if features.len() != coefficients.len() || features.is_empty() {
            return Err(bad(
                "`features` and `coefficients` must have the same, non-zero length",
            ));
        }
        Ok(LinearModel {
            dataset: s("dataset")?,
            target: s("target")?,
            features,
            intercept: f("intercept")?,
            coefficients,
            ridge: f("ridge")?,
            n: v["n"].as_u64().ok_or_else(|| bad("`n` must be a count"))?,
            rmse_train: f("rmse_train")?,
        })
    }
}

/// Check that target and features are distinct, encrypted, non-nullable product columns.
pub fn check_columns(
    schema: &Schema,
    target: &str,
    features: &[String],
) -> Result<(), EngineError> {
    if features.is_empty() {
        return Err(EngineError::BadArguments {
            function: "model fit".into(),
            reason: "at least one feature is needed".into(),
        });
    }
    let mut all: Vec<&str> = vec![target];
    all.extend(features.iter().map(String::as_str));
    check_model_columns(schema, &all)
}

/// Check that every column is a distinct, encrypted, non-nullable product column (the
/// columns a linear model reads).
pub fn check_model_columns(schema: &Schema, columns: &[&str]) -> Result<(), EngineError> {
    for (i, c) in columns.iter().enumerate() {
        let col = schema.column(c).ok_or_else(|| EngineError::UnknownColumn {
            column: c.to_string(),
            dataset: schema.dataset.clone(),
        })?;
        match &col.kind {
            ColumnKind::Encrypted(e) if e.usage == Usage::Product && !col.nullable => {}
            _ => {
                return Err(EngineError::BadArguments {
                    function: "model".into(),
                    reason: format!(
                        "`{c}` must be an encrypted, non-nullable column with usage = \"product\""
                    ),
                })
            }
        }
        if columns[..i].iter().any(|p| p.eq_ignore_ascii_case(c)) {
            return Err(EngineError::BadArguments {
                function: "model".into(),
                reason: format!("`{c}` is listed twice"),
            });
        }
    }
    Ok(())
}

/// The query whose released result feeds the fit: n, means, variances and covariances.
pub fn fit_sql(dataset: &str, target: &str, features: &[String]) -> String {
    let mut items = vec![
        "COUNT(*)".to_string(),
        format!("AVG({target})"),
        format!("VAR_POP({target})"),
    ];
    items.extend(features.iter().map(|f| format!("AVG({f})")));
    items.extend(features.iter().map(|f| format!("COVAR_POP({f}, {target})")));
    for i in 0..features.len() {
        for j in i..features.len() {
            items.push(format!("COVAR_POP({}, {})", features[i], features[j]));
        }
    }
    format!("SELECT {} FROM {dataset}", items.join(", "))
}

/// The statistics a fit needs, however they were obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct FitStats {
    /// Rows.
    pub n: u64,
    /// ȳ.
    pub mean_y: f64,
    /// Var(y) (population).
    pub var_y: f64,
    /// x̄.
    pub mean_x: Vec<f64>,
    /// Cov(x_i, y) (population).
    pub cov_xy: Vec<f64>,
    /// Cov(x_i, x_j) (population), full symmetric matrix.
    pub cov_xx: Vec<Vec<f64>>,
}

impl FitStats {
    /// Read the single row of the released [`fit_sql`] result.
    #[allow(clippy::needless_range_loop)] // a symmetric matrix filled by (i, j): indices read best
    pub fn from_result(rs: &ResultSet, p: usize) -> Result<FitStats, EngineError> {
        let row = rs
            .rows
            .first()
            .ok_or_else(|| EngineError::Execution("fit query returned no row".into()))?;
        let num = |i: usize| -> Result<f64, EngineError> {
            row.get(i).and_then(Cell::as_f64).ok_or_else(|| {
                EngineError::Execution(format!(
                    "fit statistic {} is NULL (constant or empty column?)",
                    rs.columns.get(i).cloned().unwrap_or_default()
                ))
            })
        };
        let n = num(0)? as u64;
        let (mean_y, var_y) = (num(1)?, num(2)?);
        let mean_x = (0..p).map(|i| num(3 + i)).collect::<Result<Vec<_>, _>>()?;
        let cov_xy = (0..p)
            .map(|i| num(3 + p + i))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cov_xx = vec![vec![0.0; p]; p];
        let mut k = 3 + 2 * p;
        for i in 0..p {
            for j in i..p {
                let c = num(k)?;
                cov_xx[i][j] = c;
                cov_xx[j][i] = c;
                k += 1;
            }
        }
        Ok(FitStats {
            n,
            mean_y,
            var_y,
            mean_x,
            cov_xy,
            cov_xx,
        })
    }

    /// The same statistics from clear rows (the plaintext twin): textbook two-pass formulas.
    pub fn from_rows(x: &[Vec<f64>], y: &[f64]) -> FitStats {
        let n = y.len();
        let p = x.first().map_or(0, Vec::len);
        let nf = n as f64;
        let mean_y = y.iter().sum::<f64>() / nf;
        let mean_x: Vec<f64> = (0..p)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / nf)
            .collect();
        let var_y = y.iter().map(|v| (v - mean_y).powi(2)).sum::<f64>() / nf;
        let cov_xy = (0..p)
            .map(|j| {
                x.iter()
                    .zip(y)
                    .map(|(r, v)| (r[j] - mean_x[j]) * (v - mean_y))
                    .sum::<f64>()
                    / nf
            })
            .collect();
        let cov_xx = (0..p)
            .map(|i| {
                (0..p)
                    .map(|j| {
                        x.iter()
                            .map(|r| (r[i] - mean_x[i]) * (r[j] - mean_x[j]))
                            .sum::<f64>()
                            / nf
                    })
                    .collect()
            })
            .collect();
        FitStats {
            n: n as u64,
            mean_y,
            var_y,
            mean_x,
            cov_xy,
            cov_xx,
        }
    }

    /// Solve the ridge problem and compute the training RMSE.
    pub fn fit(
        &self,
        dataset: &str,
        target: &str,
        features: &[String],
        ridge: f64,
    ) -> Result<LinearModel, EngineError> {
        if !(ridge.is_finite() && ridge >= 0.0) {
            return Err(EngineError::BadArguments {
                function: "model fit".into(),
                reason: format!("--ridge must be ≥ 0, got {ridge}"),
            });
        }
        let p = features.len();
        let nf = self.n as f64;
        let mut a: Vec<Vec<f64>> = self
            .cov_xx
            .iter()
            .map(|r| r.iter().map(|c| c * nf).collect())
            .collect();
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += ridge;
        }
        let b: Vec<f64> = self.cov_xy.iter().map(|c| c * nf).collect();
        let beta = cholesky_solve(a, b).ok_or_else(|| {
            EngineError::Execution("the feature matrix is singular (constant or collinear features); add --ridge or drop features".into())
        })?;
        let intercept = self.mean_y
            - beta
                .iter()
                .zip(&self.mean_x)
                .map(|(b, m)| b * m)
                .sum::<f64>();
        let bc: f64 = beta.iter().zip(&self.cov_xy).map(|(b, c)| b * c).sum();
        let bcb: f64 = (0..p)
            .map(|i| {
                (0..p)
                    .map(|j| beta[i] * self.cov_xx[i][j] * beta[j])
                    .sum::<f64>()
            })
            .sum();
        let mse = (self.var_y - 2.0 * bc + bcb).max(0.0);
        Ok(LinearModel {
            dataset: dataset.to_string(),
            target: target.to_string(),
            features: features.to_vec(),
            intercept,
            coefficients: beta,
            ridge,
            n: self.n,
            rmse_train: mse.sqrt(),
        })
    }
}

/// Solve A x = b for symmetric positive-definite A (Cholesky); `None` if A is not.
#[allow(clippy::needless_range_loop)] // textbook triangular loops
fn cholesky_solve(a: Vec<Vec<f64>>, b: Vec<f64>) -> Option<Vec<f64>> {
    let p = b.len();
    let scale = a
        .iter()
        .enumerate()
        .map(|(i, r)| r[i].abs())
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut l = vec![vec![0.0; p]; p];
    for i in 0..p {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= scale * 1e-13 {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut z = vec![0.0; p];
    for i in 0..p {
        z[i] = (b[i] - (0..i).map(|k| l[i][k] * z[k]).sum::<f64>()) / l[i][i];
    }
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        x[i] = (z[i] - (i + 1..p).map(|k| l[k][i] * x[k]).sum::<f64>()) / l[i][i];
    }
    Some(x)
}

/// Integer weights for homomorphic scoring: the prediction times `scale` is
/// `constant + Σ weights_j · v_j` over the centred fixed-point values v_j.
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePlan {
    /// Feature columns.
    pub features: Vec<String>,
    /// One integer weight per feature.
    pub weights: Vec<i64>,
    /// Integer constant term.
    pub constant: i64,
    /// 10^k: the released integer divided by it is the prediction.
    pub scale: f64,
}

/// Quantise a model for scoring on `schema`'s encrypted columns, with the largest power of
/// ten that keeps every possible prediction below `max_abs` (t/4 leaves room for rounding).
pub fn score_plan(
    model: &LinearModel,
    schema: &Schema,
    max_abs: u128,
) -> Result<ScorePlan, EngineError> {
    let codecs = model
        .features
        .iter()
        .map(|f| {
            schema
                .column(f)
                .and_then(|c| c.encrypted())
                .map(|e| e.codec.clone())
                .ok_or_else(|| EngineError::UnknownColumn {
                    column: f.clone(),
                    dataset: schema.dataset.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for k in (0..=12).rev() {
        let scale = 10f64.powi(k);
        let mut constant = model.intercept;
        let mut weights = Vec::with_capacity(codecs.len());
        let mut bound = 0f64;
        for (b, c) in model.coefficients.iter().zip(&codecs) {
            let per_unit = b * scale / 10f64.powi(c.scale as i32);
            weights.push(per_unit.round());
            constant += b * c.offset as f64 / 10f64.powi(c.scale as i32);
            bound += per_unit.abs().round() * crate::moments::max_abs(c) as f64;
        }
        let constant = (constant * scale).round();
        bound += constant.abs();
        if bound < max_abs as f64 && weights.iter().all(|w| w.abs() < 9.0e15) {
            return Ok(ScorePlan {
                features: model.features.clone(),
                weights: weights.into_iter().map(|w| w as i64).collect(),
                constant: constant as i64,
                scale,
            });
        }
    }
    Err(EngineError::Refused(
        "the model's predictions cannot fit the plaintext space at any precision".into(),
    ))
}

/// The released predictions as a table: the dataset's public columns, `source` and
/// `prediction`, one row per stored row of each scored chunk, in chunk order. `chunks`
/// pairs each scored chunk with its decrypted slots (a per-product chunk holds its rows in
/// their lanes' slots, [`crate::exec::row_slots`]). One function for the embedded and the
/// networked scoring, so both print the same table.
pub fn prediction_table<'a>(
    schema: &Schema,
    plan: &ScorePlan,
    params: &dtfhe_crypto::Params,
    chunks: impl IntoIterator<Item = (&'a dtfhe_model::ChunkMeta, &'a [u64])>,
) -> Result<ResultSet, EngineError> {
    let public_names: Vec<String> = schema.public_columns().map(|c| c.name.clone()).collect();
    let mut columns = public_names.clone();
    columns.push("source".into());
    columns.push("prediction".into());
    let mut rows = Vec::new();
    for (chunk, slots) in chunks {
        let public = dtfhe_model::decode_public_columns(&chunk.public)
            .map_err(|e| EngineError::Execution(format!("chunk {}: {e}", chunk.id)))?;
        for (r, slot) in crate::exec::row_slots(chunk, params.slots())?
            .into_iter()
            .enumerate()
        {
            let mut row: Vec<Cell> = public_names
                .iter()
                .map(|n| {
                    public
                        .iter()
                        .find(|c| &c.name == n)
                        .and_then(|c| c.values.get(r))
                        .map(Cell::from_value)
                        .unwrap_or(Cell::Null)
                })
                .collect();
            row.push(Cell::Text(chunk.source.clone()));
            let v = slots.get(slot).copied().ok_or_else(|| {
                EngineError::Execution(format!("chunk {}: no slot {slot} decrypted", chunk.id))
            })?;
            row.push(Cell::Float(
                dtfhe_crypto::release::centred(params, v) as f64 / plan.scale,
            ));
            rows.push(row);
        }
    }
    let decimals = vec![None; columns.len()];
    Ok(ResultSet {
        columns,
        rows,
        decimals,
        keys: Vec::new(),
    })
}
