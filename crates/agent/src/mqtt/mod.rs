//! Shop-floor MQTT in the edge agent (`dtfhe agent --mqtt URL --map FILE`): JSON and
//! Sparkplug B payloads mapped to schema columns ([`map`]), decoded and checked per row
//! ([`decode`], [`sparkplug`]), journalled sealed before the broker's acknowledgement
//! ([`journal`]), closed into encrypted chunks per time or row window and uploaded from the
//! spool ([`run`]). Values are encrypted on the edge machine; nothing rests or leaves in clear.

pub mod decode;
pub mod journal;
pub mod map;
pub mod run;
pub mod sparkplug;
