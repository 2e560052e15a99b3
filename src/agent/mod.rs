//! MUTT as an SNMP agent: what it sends back to the senders of SNMP datagrams. The SNMPv3 engine
//! (`engine.rs`: discovery and time-window Reports, signed and encrypted inform Responses, the
//! engine's counters and salt) and the answer ingest gives each datagram with the memory of
//! recently accepted v3 informs (`informs.rs`). The decoders in `decode/` stay pure: they read
//! messages and never build, sign or encrypt a reply.

pub mod engine;
pub mod informs;
