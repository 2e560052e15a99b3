//! Small shared vocabulary: what kind of message a record is and how it arrived.

use serde::Serialize;

/// The `messages.type` column: the seed's two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Syslog,
    SnmpTrap,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Syslog => "syslog",
            MessageKind::SnmpTrap => "snmp_trap",
        }
    }
}

/// Which listener accepted a record. Stored in the WAL as one byte; the WAL itself gives it no
/// meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Listener {
    Syslog = 1,
    Snmp = 2,
}

impl Listener {
    pub fn from_u8(v: u8) -> Option<Listener> {
        match v {
            1 => Some(Listener::Syslog),
            2 => Some(Listener::Snmp),
            _ => None,
        }
    }

    pub fn kind(self) -> MessageKind {
        match self {
            Listener::Syslog => MessageKind::Syslog,
            Listener::Snmp => MessageKind::SnmpTrap,
        }
    }
}

/// The transport a record came over. Stored in the WAL as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Transport {
    Udp = 1,
    Tcp = 2,
    Tls = 3,
}

impl Transport {
    pub fn from_u8(v: u8) -> Option<Transport> {
        match v {
            1 => Some(Transport::Udp),
            2 => Some(Transport::Tcp),
            3 => Some(Transport::Tls),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// Record flag bits (the WAL carries them opaquely).
pub mod flags {
    /// The frame or datagram was longer than the configured maximum and was cut.
    pub const TRUNCATED: u8 = 0b0000_0001;
}
