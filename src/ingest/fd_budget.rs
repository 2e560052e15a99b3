//! Descriptor budget: at ingest start the soft RLIMIT_NOFILE is raised to the hard limit, and the
//! stream connection caps are lowered so that open connections can never take the descriptors
//! the WAL (segments, readers, directory), the database, the listeners and the metrics server
//! need: at most `nofile - RESERVE` connections, TCP and TLS together.

use tracing::{info, warn};

/// Descriptors kept out of the connections' reach.
pub const RESERVE: u64 = 64;

/// Raise the soft RLIMIT_NOFILE to the hard limit (capped by the kernel's `nr_open` when the
/// hard limit is unlimited); returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a live rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    let target = if lim.rlim_max == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        lim.rlim_max
    };
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            info!(
                from = lim.rlim_cur,
                to = target,
                "raised the open-file limit"
            );
            return target;
        }
        warn!(
            soft = lim.rlim_cur,
            hard = lim.rlim_max,
            "could not raise the open-file limit"
        );
    }
    lim.rlim_cur
}

/// The connection caps (TCP, TLS) that fit in `nofile` descriptors. The TLS listener, when there
/// is one, gets at most half of what is left after the reserve; TCP the rest.
pub fn caps(tcp: usize, tls: Option<usize>, nofile: u64) -> (usize, usize) {
    let avail = usize::try_from(nofile.saturating_sub(RESERVE))
        .unwrap_or(usize::MAX)
        .max(1);
    let tls_cap = tls.map_or(0, |t| t.min((avail / 2).max(1)));
    let tcp_cap = tcp.min(avail.saturating_sub(tls_cap).max(1));
    (tcp_cap, tls.map_or(0, |_| tls_cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_keep_the_configured_values_when_descriptors_suffice() {
        assert_eq!(caps(1024, None, 20_000), (1024, 0));
        assert_eq!(caps(1024, Some(1024), 20_000), (1024, 1024));
    }

    #[test]
    fn caps_leave_the_reserve_free_when_descriptors_are_short() {
        assert_eq!(caps(1024, None, 1024), (1024 - 64, 0));
        let (tcp, tls) = caps(1024, Some(1024), 1024);
        assert!(tcp + tls <= 1024 - 64, "{tcp} + {tls}");
        assert_eq!(tls, (1024 - 64) / 2);
        // Even a tiny limit leaves one connection each rather than none.
        assert_eq!(caps(10, Some(10), 10), (1, 1));
    }

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        let got = raise_nofile();
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit with a pointer to a live rlimit.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(lim.rlim_cur, got);
        if lim.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(lim.rlim_cur, lim.rlim_max);
        }
    }
}
