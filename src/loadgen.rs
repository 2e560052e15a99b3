//! A syslog load generator: realistic RFC 3164 lines over UDP at a set rate, sent in sendmmsg(2)
//! batches so one core can offer several hundred thousand datagrams a second. Used by
//! `mutt load` and the end-to-end load benchmark.

use std::io;
use std::mem::zeroed;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Datagrams per sendmmsg call.
const BATCH: usize = 64;

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
/// source addresses taking turns by batch. To a loopback IPv4 target the devices are 127.0.1.1,
/// 127.0.1.2, ... (all of 127.0.0.0/8 is this host); otherwise one socket stands for them all.
pub fn send_syslog_udp(
    target: SocketAddr,
    rate: u64,
    count: u64,
    run: u32,
    devices: usize,
) -> io::Result<SendReport> {
    let sockets = device_sockets(target, devices)?;
    let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(256)).collect();
    let start = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut stamp = (0i64, String::new());
    while sent + errors < count {
        let n = (count - sent - errors).min(BATCH as u64) as usize;
        // Devices stamp the current time: a new stamp each second, like a real fleet.
        let now = crate::timefmt::now_us() / 1_000_000;
        if now != stamp.0 {
            stamp = (now, rfc3164_stamp(now));
        }
        for (k, buf) in bufs.iter_mut().take(n).enumerate() {
            line(run, sent + errors + k as u64, &stamp.1, buf);
        }
        let socket = &sockets[((sent + errors) / BATCH as u64) as usize % sockets.len()];
        let ok = sendmmsg(socket, &bufs[..n])?;
        sent += ok as u64;
        errors += (n - ok) as u64;
        if rate > 0 {
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
}
