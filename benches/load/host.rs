//! What the load bench reads from the host: settings from the environment, free ports, a
//! process's CPU time, how idle the box is, and waiting for a condition.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "no" | "false"))
}

pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

pub fn free_tcp_port() -> u16 {
    let s = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// True once something has bound UDP `port` on loopback (a peer that is ready to receive).
pub fn udp_port_taken(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// CPU time of process `pid`, all its threads, user + system, in microseconds (utime and stime
/// of /proc/PID/stat, in clock ticks of usually 10 ms).
pub fn cpu_us(pid: u32) -> Option<u64> {
    stat_cpu_us(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a /proc stat line, in microseconds.
fn stat_cpu_us(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1_000_000 / clock_ticks())
}

/// CPU time of each thread of process `pid` in microseconds, summed by thread name with trailing
/// digits dropped (`mutt-decode-0` and `mutt-decode-1` count as `mutt-decode`).
pub fn cpu_us_by_thread(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let name = name.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        let name = name.trim_end_matches('-').to_string();
        if let Some(us) = stat_cpu_us(&stat) {
            *by_name.entry(name).or_insert(0) += us;
        }
    }
    by_name
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// (idle, total) jiffies of all CPUs from the first line of /proc/stat; iowait counts as idle.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((idle, v.iter().sum()))
}

/// Share of all cores left idle over `span`, in percent.
pub fn idle_percent(span: Duration) -> Option<f64> {
    let (i0, t0) = cpu_jiffies()?;
    std::thread::sleep(span);
    let (i1, t1) = cpu_jiffies()?;
    (t1 > t0).then(|| 100.0 * (i1 - i0) as f64 / (t1 - t0) as f64)
}

/// One line on the state of the box: cores, load averages, idle share over a short sample, and
/// the UDP receive-buffer limits.
pub fn box_state() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let idle = idle_percent(Duration::from_secs(1)).map_or("?".into(), |p| format!("{p:.0}%"));
    let read = |p: &str| std::fs::read_to_string(p).map_or("?".into(), |s| s.trim().to_string());
    format!(
        "{cores} cores, {}, idle {idle} over 1 s; \
         net.core.rmem_default {} B, rmem_max {} B; running as uid {}",
        load_average(),
        read("/proc/sys/net/core/rmem_default"),
        read("/proc/sys/net/core/rmem_max"),
        // SAFETY: getuid has no preconditions.
        unsafe { libc::getuid() },
    )
}

/// The load averages over 1, 5 and 15 minutes, and the tasks running now (/proc/loadavg).
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let f: Vec<&str> = text.split_whitespace().collect();
    format!(
        "load average {} {} {}, running/total tasks {}",
        f.first().unwrap_or(&"?"),
        f.get(1).unwrap_or(&"?"),
        f.get(2).unwrap_or(&"?"),
        f.get(3).unwrap_or(&"?")
    )
}

/// Poll `f` every `every` until it gives a value or `limit` passes.
pub fn wait_for<T>(
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}
