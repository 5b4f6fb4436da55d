//! Query engine (to be written).
#![forbid(unsafe_code)]
