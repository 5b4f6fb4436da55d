//! `dtfhe bench`: the figures of one embedded deployment ([`figures`]), the bounded load
//! test on loopback ([`load`]) and the cost of the disclosure audit ([`audit`]). Its own
//! crate so the measurement code is not part of any role's library.
#![forbid(unsafe_code)]

/// A public production `line` and a product-capable encrypted column `x` (hundredths), as
/// TOML for `concat!`: the columns every synthetic dataset of the bench has.
macro_rules! line_x_columns {
    () => {
        r#"
[[columns]]
name = "line"
kind = "public"
type = "integer"

[[columns]]
name = "x"
kind = "encrypted"
scale = 2
min = 0.0
max = 100.0
"#
    };
}

/// The columns both synthetic datasets share (TOML, for `concat!`): [`line_x_columns`] and
/// a second product-capable encrypted column `y` (hundredths).
macro_rules! line_x_y_columns {
    () => {
        concat!(
            line_x_columns!(),
            r#"
[[columns]]
name = "y"
kind = "encrypted"
scale = 2
min = 0.0
max = 150.0
"#
        )
    };
}

pub mod audit;
pub mod error;
pub mod figures;
pub mod live;
pub mod load;
pub mod mqtt;
pub mod opcua;

pub use error::BenchError;
