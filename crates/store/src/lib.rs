//! Persistent store (to be written).
#![forbid(unsafe_code)]
