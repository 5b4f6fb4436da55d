//! The source side (to be written).
#![forbid(unsafe_code)]
