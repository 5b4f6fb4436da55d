//! OPC UA in the edge agent (`dtfhe agent --opcua opc.tcp://HOST:PORT --map FILE`): a client
//! session (async-opcua) subscribes to monitored items; the mapping file ([`map`]) says which
//! node fills which schema column; values sharing a source timestamp become one row
//! ([`rows`]); rows are journalled sealed, closed into encrypted chunks per time or row window
//! and uploaded from the spool by the path MQTT uses ([`crate::live`]); [`run`] holds the
//! session and the loop. Values are encrypted on the edge machine; nothing rests or leaves in
//! clear, and a bad-quality value is counted and reported with its node id, never stored.

pub mod map;
pub mod rows;
pub mod run;
pub mod security;
