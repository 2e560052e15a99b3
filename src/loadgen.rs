//! A load generator: realistic RFC 3164 syslog lines, and SNMPv2c and SNMPv3 linkDown traps as
//! routers send them, over UDP at a set rate from many source addresses, in sendmmsg(2) batches so
//! one core can offer several hundred thousand datagrams a second. Used by `mutt load` and the
//! end-to-end load benchmark. Traps are built into a pool before the send ([`device_pool`]), so
//! signing and encrypting them does not slow the sender; SNMPv3 ones are encoded, signed and
//! encrypted by MUTT's own agent code (`agent::engine::encode_message`).

use std::io;
use std::mem::zeroed;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::decode::snmp::{ber, Usm};

/// `n` rules in the seed's format, as an operator writes them (the load benchmarks' rules file): 70% keyword rules (two keywords
/// each) and 30% regexes, none of which matches the generated traffic; then the few that do:
/// `%LINK-3-UPDOWN` (a quarter of the syslog lines) and linkDown by trap OID (every trap).
pub fn rules_yaml(n: usize) -> String {
    let mut y = String::from("rules:\n");
    for i in 0..n {
        if i % 10 < 7 {
            y += &format!(
                "  - id: kw{i}\n    name: keyword rule {i}\n    pattern_type: keyword\n    keywords: [\"fault{i}\", \"alarm {i}\"]\n    severity: warning\n    action: store\n"
            );
        } else {
            y += &format!(
                "  - id: re{i}\n    name: regex rule {i}\n    pattern_type: regex\n    pattern: \"interface \\\\S+ (down|flap){i}\"\n    severity: critical\n    action: store\n"
            );
        }
    }
    y += "  - id: updown\n    name: link up/down\n    pattern_type: regex\n    pattern: \"%LINK-3-UPDOWN\"\n    severity: warning\n    action: store\n";
    y += "  - id: linkdown\n    name: linkDown trap\n    pattern_type: keyword\n    keywords: [\"1.3.6.1.6.3.1.1.5.3\"]\n    field: oid\n    types: [snmp_trap]\n    severity: warning\n    action: store\n";
    y
}

/// The SNMPv3 user of the load benchmarks (HMAC-SHA-96 and AES-128): the same in MUTT's
/// credentials file, in snmptrapd's `createUser` line and in the traps the senders build.
pub const V3_USER: &str = "bench";
pub const V3_AUTH_PASSWORD: &str = "bench-auth-pass";
pub const V3_PRIV_PASSWORD: &str = "bench-priv-pass";

/// [`V3_USER`] as a receiver (or a sender) knows it.
pub fn bench_usm() -> Usm {
    use crate::decode::snmp::credentials::{Credential, Credentials, Secret};
    use crate::decode::snmp::privacy::PrivProtocol;
    use crate::decode::snmp::usm::AuthProtocol;
    Usm::new(Credentials::from_users(vec![(
        V3_USER.into(),
        vec![Credential {
            priority: 1,
            auth: Some((AuthProtocol::Sha1, Secret::new(V3_AUTH_PASSWORD))),
            privacy: Some((PrivProtocol::Aes128, Secret::new(V3_PRIV_PASSWORD))),
            active: true,
            id: 0,
        }],
    )]))
}

/// Datagrams per sendmmsg call.
pub const BATCH: usize = 64;

/// What a run offered.
#[derive(Debug, Clone, Copy)]
pub struct SendReport {
    pub sent: u64,
    /// Datagrams the local kernel refused (ENOBUFS/EAGAIN); not offered to the receiver.
    pub send_errors: u64,
    pub elapsed: Duration,
}

impl SendReport {
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `i`-th line of the load: about 120 bytes, varied hosts, programs and texts, as a router
/// fleet sends them, stamped `stamp` (RFC 3164 `Mmm dd hh:mm:ss`). `run` makes lines unique across
/// runs.
pub fn line(run: u32, i: u64, stamp: &str, out: &mut Vec<u8>) {
    use std::io::Write;
    const TEXTS: [&str; 4] = [
        "%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
        "Accepted publickey for admin from 192.0.2.10 port 52311 ssh2",
        "%SEC-6-IPACCESSLOGP: list 101 denied tcp 198.51.100.7(443)",
        "CPU utilization 37% over the last 5 seconds; memory ok",
    ];
    out.clear();
    let _ = write!(
        out,
        "<{}>{stamp} rtr{:04} app{}[{}]: {} r{run} n{i}",
        128 + (i % 8),
        i % 1000,
        i % 5,
        1000 + i % 4000,
        TEXTS[(i % 4) as usize],
    );
}

/// `Mmm dd hh:mm:ss` (UTC) for Unix epoch seconds, as devices stamp RFC 3164 lines.
pub fn rfc3164_stamp(unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = crate::timefmt::civil_from_days(unix_secs.div_euclid(86_400));
    let sod = unix_secs.rem_euclid(86_400);
    format!(
        "{} {:2} {:02}:{:02}:{:02}",
        MONTHS[(m as usize).clamp(1, 12) - 1],
        d,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Send `count` lines to `target` at `rate` per second (0 = as fast as possible), from `devices`
/// source addresses taking turns by batch (see [`send_udp`]).
pub fn send_syslog_udp(
    target: SocketAddr,
    rate: u64,
    count: u64,
    run: u32,
    devices: usize,
) -> io::Result<SendReport> {
    let mut stamp = (0i64, String::new());
    send_udp(target, rate, count, devices, |first, bufs| {
        // Devices stamp the current time: a new stamp each second, like a real fleet.
        let now = crate::timefmt::now_us() / 1_000_000;
        if now != stamp.0 {
            stamp = (now, rfc3164_stamp(now));
        }
        for (k, buf) in bufs.iter_mut().enumerate() {
            line(run, first + k as u64, &stamp.1, buf);
        }
    })
}

/// Send `count` datagrams taken in turn from `pool` (built beforehand, e.g. by
/// [`device_pool`], so that building them costs nothing during the send).
pub fn send_pool_udp(
    target: SocketAddr,
    rate: u64,
    count: u64,
    devices: usize,
    pool: &[Vec<u8>],
) -> io::Result<SendReport> {
    if pool.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty pool"));
    }
    send_udp(target, rate, count, devices, |first, bufs| {
        for (k, buf) in bufs.iter_mut().enumerate() {
            buf.clear();
            buf.extend_from_slice(&pool[((first + k as u64) % pool.len() as u64) as usize]);
        }
    })
}

/// Send `count` datagrams to `target` at `rate` per second (0 = as fast as possible), in
/// sendmmsg batches of [`BATCH`] that `fill(first, bufs)` writes (datagrams `first..`). The
/// `devices` source addresses take turns by batch: datagram `i` goes out from device
/// `(i / BATCH) % devices`. To a loopback IPv4 target the devices are 127.0.1.1, 127.0.1.2, ...
/// (all of 127.0.0.0/8 is this host); otherwise one socket stands for them all.
pub fn send_udp(
    target: SocketAddr,
    rate: u64,
    count: u64,
    devices: usize,
    mut fill: impl FnMut(u64, &mut [Vec<u8>]),
) -> io::Result<SendReport> {
    let sockets = device_sockets(target, devices)?;
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let start = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    while sent + errors < count {
        let n = (count - sent - errors).min(BATCH as u64) as usize;
        fill(sent + errors, &mut bufs[..n]);
        let socket = &sockets[((sent + errors) / BATCH as u64) as usize % sockets.len()];
        let ok = sendmmsg(socket, &bufs[..n])?;
        sent += ok as u64;
        errors += (n - ok) as u64;
        if rate > 0 && sent + errors < count {
            // Pace against the schedule, not the last send, so the average rate holds.
            let due = Duration::from_secs_f64((sent + errors) as f64 / rate as f64);
            let elapsed = start.elapsed();
            if due > elapsed {
                let wait = due - elapsed;
                if wait > Duration::from_micros(200) {
                    std::thread::sleep(wait);
                }
            }
        }
    }
    Ok(SendReport {
        sent,
        send_errors: errors,
        elapsed: start.elapsed(),
    })
}

/// `per_device` datagrams for each of `devices` senders, laid out for [`send_pool_udp`] from as
/// many addresses: datagram `i` of the pool goes out from device `(i / BATCH) % devices`, so
/// `make(device, k)` builds the `k`-th datagram that device sends. `per_device` is rounded up to
/// whole batches.
pub fn device_pool(
    devices: usize,
    per_device: u64,
    mut make: impl FnMut(usize, u64) -> Vec<u8>,
) -> Vec<Vec<u8>> {
    let devices = devices.max(1);
    let rounds = per_device.div_ceil(BATCH as u64).max(1);
    let mut pool = Vec::with_capacity(devices * BATCH * rounds as usize);
    for round in 0..rounds {
        for device in 0..devices {
            for k in 0..BATCH as u64 {
                pool.push(make(device, round * BATCH as u64 + k));
            }
        }
    }
    pool
}

/// `1.3.6.1.6.3.1.1.5.3`, linkDown (RFC 3418 / IF-MIB).
const LINK_DOWN: &[u32] = &[1, 3, 6, 1, 6, 3, 1, 1, 5, 3];
/// ifTable columns (IF-MIB) and ifAlias (ifXTable).
const IF_ENTRY: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1];
const IF_ALIAS: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18];

/// The VarBindList TLV of a linkDown trap for `port` as a router sends it, `uptime` hundredths of
/// a second after its boot: sysUpTime.0, snmpTrapOID.0, then ifIndex, ifAdminStatus,
/// ifOperStatus, ifDescr, ifType, ifAlias, ifSpeed and ifPhysAddress of the port (10 varbinds).
pub fn linkdown_varbinds(port: u32, uptime: u32) -> Vec<u8> {
    use crate::decode::snmp::ber::tag;
    use crate::decode::snmp::pdu::{SNMP_TRAP_OID_0, SYS_UPTIME_0};
    const GAUGE32: u8 = 0x42;
    let column = |c: u32| [IF_ENTRY, &[c, port]].concat();
    let descr = format!("GigabitEthernet0/{port}");
    let alias = format!(
        "uplink to core-sw{} port {port}, rack B{}",
        port % 4,
        20 + port % 8
    );
    let mac = [0x00, 0x15, 0x99, 0x37, 0x76, port as u8];
    let mut list = Vec::with_capacity(300);
    varbind(&mut list, SYS_UPTIME_0, |v| {
        unsigned(v, tag::TIME_TICKS, uptime)
    });
    varbind(&mut list, SNMP_TRAP_OID_0, |v| oid(v, LINK_DOWN));
    varbind(&mut list, &column(1), |v| {
        ber::write_integer(v, port.into())
    });
    varbind(&mut list, &column(7), |v| ber::write_integer(v, 1));
    varbind(&mut list, &column(8), |v| ber::write_integer(v, 2));
    varbind(&mut list, &column(2), |v| {
        ber::write_tlv(v, tag::OCTET_STRING, descr.as_bytes())
    });
    varbind(&mut list, &column(3), |v| ber::write_integer(v, 6));
    varbind(&mut list, &[IF_ALIAS, &[port]].concat(), |v| {
        ber::write_tlv(v, tag::OCTET_STRING, alias.as_bytes())
    });
    varbind(&mut list, &column(5), |v| {
        unsigned(v, GAUGE32, 1_000_000_000)
    });
    varbind(&mut list, &column(6), |v| {
        ber::write_tlv(v, tag::OCTET_STRING, &mac)
    });
    let mut out = Vec::with_capacity(list.len() + 4);
    ber::write_tlv(&mut out, tag::SEQUENCE, &list);
    out
}

/// An SNMPv2c linkDown trap (SNMPv2-Trap-PDU) in `community`: the `k`-th a router sends, with
/// request-id `k` and one of 48 ports.
pub fn v2c_linkdown(community: &str, k: u64) -> Vec<u8> {
    use crate::decode::snmp::ber::tag;
    let (port, uptime) = trap_fields(k);
    let mut body = Vec::with_capacity(320);
    ber::write_integer(&mut body, 1);
    ber::write_tlv(&mut body, tag::OCTET_STRING, community.as_bytes());
    let request_id = (k % i32::MAX as u64) as i64;
    crate::decode::snmp::inform::write_pdu(
        &mut body,
        crate::decode::snmp::pdu::SNMPV2_TRAP,
        request_id,
        0,
        &linkdown_varbinds(port, uptime),
    );
    let mut out = Vec::with_capacity(body.len() + 4);
    ber::write_tlv(&mut out, tag::SEQUENCE, &body);
    out
}

/// The snmpEngineID of load-generator device `device` (RFC 3411 format: enterprise 8072,
/// net-snmp's, then text): `80 00 1f 88 04` "mutt-lg" and the device number, 2 octets.
pub fn engine_id(device: usize) -> Vec<u8> {
    let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x04];
    id.extend_from_slice(b"mutt-lg");
    id.extend_from_slice(&(device as u16).to_be_bytes());
    id
}

/// SNMPv3 linkDown traps from `devices` devices, each its own authoritative engine
/// ([`engine_id`], snmpEngineBoots `boots`), as `user` of `usm` at the level of the user's first
/// credential (authPriv for one with privacy), `per_device` each, laid out by [`device_pool`].
/// msgID and request-id count up per device, each message gets a fresh privacy salt, and
/// snmpEngineTime moves one second per batch a device sends: from pool start to end a device's
/// clock advances by `per_device / BATCH` seconds, well inside the 150 s a receiver accepts when
/// the pool is sent again. None when the user is unknown or a key cannot be made.
pub fn v3_linkdown_pool(
    usm: &Usm,
    user: &str,
    devices: usize,
    per_device: u64,
    boots: u32,
) -> Option<Vec<Vec<u8>>> {
    use crate::agent::engine::{encode_message, scoped_bytes, EngineState, FLAG_AUTH, FLAG_PRIV};
    let cred = usm.credentials().user(user)?.first()?;
    let mut senders = Vec::with_capacity(devices.max(1));
    for device in 0..devices.max(1) {
        let engine = EngineState::new(engine_id(device), boots, device as u64 * 1_000_003);
        let keys = match cred.auth {
            Some(_) => {
                let (keys, _) = usm.keys(cred, &engine.engine_id)?;
                if cred.privacy.is_some() {
                    usm.privacy_key(cred, &keys, &engine.engine_id)?;
                }
                Some(keys)
            }
            None => None,
        };
        senders.push((engine, keys));
    }
    let flags = match (cred.auth.is_some(), cred.privacy.is_some()) {
        (true, true) => FLAG_AUTH | FLAG_PRIV,
        (true, false) => FLAG_AUTH,
        _ => 0,
    };
    let mut failed = false;
    let pool = device_pool(devices, per_device, |device, k| {
        let (engine, keys) = &senders[device];
        let (port, uptime) = trap_fields(k);
        let request_id = (k % i32::MAX as u64) as i64;
        let vbl = linkdown_varbinds(port, uptime);
        let scoped = scoped_bytes(
            &engine.engine_id,
            b"",
            crate::decode::snmp::pdu::SNMPV2_TRAP,
            request_id,
            &vbl,
        );
        let time = 1_000 + (k / BATCH as u64) as u32;
        let keys = keys.as_deref().map(|k| (cred, k));
        let msg = encode_message(
            engine,
            time,
            k as u32,
            user.as_bytes(),
            flags,
            &scoped,
            keys,
        );
        failed |= msg.is_none();
        msg.unwrap_or_default()
    });
    (!failed).then_some(pool)
}

/// The port and sysUpTime of a device's `k`-th trap: 48 ports in turn, a trap every ~10 ms.
fn trap_fields(k: u64) -> (u32, u32) {
    ((k % 48) as u32 + 1, 360_000 + k as u32)
}

fn varbind(list: &mut Vec<u8>, name: &[u32], value: impl FnOnce(&mut Vec<u8>)) {
    use crate::decode::snmp::ber::tag;
    let mut vb = Vec::with_capacity(64);
    oid(&mut vb, name);
    value(&mut vb);
    ber::write_tlv(list, tag::SEQUENCE, &vb);
}

/// An OBJECT IDENTIFIER TLV (X.690 section 8.19): the first two arcs in one subidentifier, each
/// in base 128, high bit set on all octets but the last.
fn oid(out: &mut Vec<u8>, arcs: &[u32]) {
    let mut content = Vec::with_capacity(arcs.len() + 4);
    let first = arcs.first().copied().unwrap_or(0) * 40 + arcs.get(1).copied().unwrap_or(0);
    for arc in std::iter::once(first).chain(arcs.iter().skip(2).copied()) {
        let mut groups = [0u8; 5];
        let mut n = 0;
        let mut v = arc;
        loop {
            groups[n] = (v & 0x7f) as u8;
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            content.push(groups[i] | if i > 0 { 0x80 } else { 0 });
        }
    }
    ber::write_tlv(out, crate::decode::snmp::ber::tag::OID, &content);
}

/// An INTEGER-encoded unsigned value under an application tag (TimeTicks, Gauge32).
fn unsigned(out: &mut Vec<u8>, tag: u8, v: u32) {
    let start = out.len();
    ber::write_integer(out, v.into());
    out[start] = tag;
}

/// One connected socket per device address.
fn device_sockets(target: SocketAddr, devices: usize) -> io::Result<Vec<UdpSocket>> {
    let local: Vec<SocketAddr> = match target {
        SocketAddr::V4(v4) if v4.ip().is_loopback() => (0..devices.clamp(1, 65_000))
            .map(|k| SocketAddr::from(([127, 0, 1 + (k / 250) as u8, 1 + (k % 250) as u8], 0)))
            .collect(),
        SocketAddr::V4(_) => vec![SocketAddr::from(([0, 0, 0, 0], 0))],
        SocketAddr::V6(_) => vec![SocketAddr::from(([0u16; 8], 0))],
    };
    local
        .into_iter()
        .map(|addr| {
            let s = UdpSocket::bind(addr)?;
            s.connect(target)?;
            Ok(s)
        })
        .collect()
}

/// Send a batch on a connected socket; returns how many went out.
fn sendmmsg(socket: &UdpSocket, bufs: &[Vec<u8>]) -> io::Result<usize> {
    // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, zero lengths) and are pointed at
    // `bufs`, which outlives the call.
    let mut iovecs: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = (0..bufs.len())
        .map(|_| unsafe { zeroed::<libc::mmsghdr>() })
        .collect();
    for (h, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    let mut done = 0;
    while done < headers.len() {
        // SAFETY: headers[done..] point at live iovecs and buffers.
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                headers[done..].as_mut_ptr(),
                (headers.len() - done) as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                // The local queue is full, or nobody listens (an earlier ICMP error): the rest of
                // the batch is counted as not sent.
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::ECONNREFUSED) => {
                    return Ok(done)
                }
                _ => return Err(e),
            }
        }
        done += n as usize;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_realistic_size_and_unique() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        line(1, 41, "Nov 27 10:00:00", &mut a);
        line(1, 42, "Nov 27 10:00:00", &mut b);
        assert_ne!(a, b);
        assert!((90..=160).contains(&a.len()), "{}", a.len());
        assert!(a.starts_with(b"<1"));
    }

    #[test]
    fn stamps_look_like_rfc_3164() {
        assert_eq!(rfc3164_stamp(0), "Jan  1 00:00:00");
        assert_eq!(rfc3164_stamp(1_764_213_782), "Nov 27 03:23:02");
    }

    #[test]
    fn a_paced_send_reaches_a_local_socket_in_full() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Room for all 500 even if the reader thread is not scheduled for a while (the default
        // 208 KiB holds ~200 small datagrams): the test checks the sender, not the scheduler.
        socket2::SockRef::from(&rx)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        let addr = rx.local_addr().unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut got = 0;
            while got < 500 && rx.recv(&mut buf).is_ok() {
                got += 1;
            }
            got
        });
        let report = send_syslog_udp(addr, 20_000, 500, 0, 3).unwrap();
        assert_eq!(report.sent, 500);
        assert!(
            report.elapsed >= Duration::from_millis(20),
            "paced: {:?}",
            report.elapsed
        );
        assert_eq!(reader.join().unwrap(), 500);
    }

    #[test]
    fn a_v2c_linkdown_decodes_as_a_router_sent_it() {
        let t = v2c_linkdown("public", 7);
        assert!((260..=300).contains(&t.len()), "{}", t.len());
        let msg = crate::decode::snmp::decode(&t);
        assert_eq!(msg.errors, Vec::<String>::new());
        assert_eq!(msg.trap_oid, "1.3.6.1.6.3.1.1.5.3");
        assert_eq!(msg.request_id, Some(7));
        assert_eq!(msg.varbinds.len(), 10);
        let descr = &msg.varbinds[5];
        assert_eq!(descr.oid, "1.3.6.1.2.1.2.2.1.2.8");
        assert_eq!(descr.value, "GigabitEthernet0/8");
        assert_eq!(msg.varbinds[8].ty, "Gauge32");
        assert_ne!(v2c_linkdown("public", 8), t);
    }

    #[test]
    fn oids_encode_multi_octet_arcs() {
        let mut out = Vec::new();
        oid(&mut out, &[1, 3, 6, 1, 4, 1, 8072, 200_000]);
        assert_eq!(
            out,
            [0x06, 0x0a, 0x2b, 6, 1, 4, 1, 0xbf, 0x08, 0x8c, 0x9a, 0x40]
        );
    }

    #[test]
    fn a_pool_goes_out_from_the_device_that_built_each_datagram() {
        let pool = device_pool(3, 70, |d, k| vec![d as u8, k as u8]);
        assert_eq!(pool.len(), 3 * 2 * BATCH);
        for (i, dgram) in pool.iter().enumerate() {
            let device = (i / BATCH) % 3;
            assert_eq!(dgram[0] as usize, device, "datagram {i}");
        }
        assert_eq!(pool[3 * BATCH], vec![0, BATCH as u8], "second round");
    }

    #[test]
    fn v3_authpriv_traps_are_trusted_and_timely_with_the_same_credentials() {
        use crate::decode::snmp::{decode_with, DecodeContext};
        let pool = v3_linkdown_pool(&bench_usm(), V3_USER, 2, 2 * BATCH as u64, 3).unwrap();
        assert_eq!(pool.len(), 4 * BATCH);
        assert!((340..=420).contains(&pool[0].len()), "{}", pool[0].len());
        let receiver = bench_usm();
        let ctx = DecodeContext {
            usm: Some(&receiver),
            ..Default::default()
        };
        // Twice through the pool, as a long send goes: the second time is still in the window.
        for (i, dgram) in pool.iter().chain(pool.iter()).enumerate() {
            let msg = decode_with(dgram, &ctx);
            assert_eq!(msg.untrusted, None, "datagram {i}: {:?}", msg.errors);
            assert_eq!(msg.security_level.as_deref(), Some("authPriv"));
            assert_eq!(msg.trap_oid, "1.3.6.1.6.3.1.1.5.3");
            assert_eq!(msg.varbinds.len(), 10);
        }
        let first = decode_with(&pool[0], &ctx);
        let other = decode_with(&pool[BATCH], &ctx);
        assert_ne!(first.engine_id, other.engine_id, "one engine per device");
        assert_ne!(pool[0], pool[2 * BATCH]);
        assert!(v3_linkdown_pool(&bench_usm(), "nobody", 1, 1, 1).is_none());
    }
}
