//! Decoders: raw record bytes in, message fields out. Pure: no sockets, threads or clocks; the
//! receive time comes in as an argument.

pub mod snmp;
pub mod syslog;
