//! UDP sockets: creation with a large kernel receive buffer, and batched receive with recvmmsg(2).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use tracing::{info, warn};

/// Datagrams taken per recvmmsg call.
pub const BATCH: usize = 32;

/// Bind a non-blocking UDP socket and ask for `rcvbuf` bytes of kernel buffer. As root,
/// SO_RCVBUFFORCE passes net.core.rmem_max; otherwise the kernel caps the request, which is logged
/// with the size obtained.
pub fn bind(addr: SocketAddr, rcvbuf: usize, what: &str) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if rcvbuf > 0 {
        set_rcvbuf(&socket, rcvbuf);
        let got = socket.recv_buffer_size().unwrap_or(0);
        // Linux reports twice the size set (it counts its bookkeeping).
        if got / 2 < rcvbuf {
            warn!(
                listener = what,
                asked = rcvbuf,
                got = got / 2,
                "kernel capped the UDP receive buffer (raise net.core.rmem_max or run as root)"
            );
        } else {
            info!(listener = what, bytes = got / 2, "UDP receive buffer");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

fn set_rcvbuf(socket: &Socket, bytes: usize) {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt with a valid fd and a pointer to a c_int of the given length.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = socket.set_recv_buffer_size(bytes);
    }
}

/// Reusable buffers for one recvmmsg call: `BATCH` datagrams of up to `size` bytes.
pub struct RecvBatch {
    size: usize,
    data: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    count: usize,
}

impl RecvBatch {
    pub fn new(size: usize) -> RecvBatch {
        // SAFETY: all-zero is a valid sockaddr_storage, iovec and mmsghdr (null pointers, zero
        // lengths); `recv` points them at our buffers before every call.
        let (addrs, iovecs, headers) = unsafe {
            (
                vec![zeroed::<libc::sockaddr_storage>(); BATCH],
                vec![zeroed::<libc::iovec>(); BATCH],
                vec![zeroed::<libc::mmsghdr>(); BATCH],
            )
        };
        RecvBatch {
            size,
            data: vec![0; size * BATCH],
            addrs,
            iovecs,
            headers,
            count: 0,
        }
    }

    /// Receive up to `BATCH` datagrams without blocking. Ok(0) when none is waiting.
    pub fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        self.count = 0;
        for i in 0..BATCH {
            self.iovecs[i] = libc::iovec {
                iov_base: self.data[i * self.size..].as_mut_ptr().cast(),
                iov_len: self.size,
            };
            let hdr = &mut self.headers[i].msg_hdr;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.headers[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers owned by `self`, sized as declared.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.count = n as usize;
        Ok(self.count)
    }

    /// Datagram `i` of the last `recv`: its bytes (cut at `size`), sender, and whether the kernel
    /// cut it (MSG_TRUNC).
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr, bool)> {
        if i >= self.count {
            return None;
        }
        let hdr = &self.headers[i];
        let len = (hdr.msg_len as usize).min(self.size);
        let truncated = hdr.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        let addr = socket_addr(&self.addrs[i])?;
        Some((
            &self.data[i * self.size..i * self.size + len],
            addr,
            truncated,
        ))
    }
}

/// The sender's address from what recvmmsg filled in.
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which it is large enough for.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(sin6.sin6_port))))
        }
        _ => None,
    }
}
