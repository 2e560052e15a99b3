//! The peers MUTT is compared with in the same run (shared/BENCHMARKS.md): rsyslogd (imudp →
//! omfile) for syslog and net-snmp's snmptrapd (→ log file) for traps. Each is started privately
//! in the foreground, as a plain process and not a service, with its own config in a temporary
//! directory, on a free loopback port, defaults otherwise, and stopped after the run. Both are
//! Debian packages (`rsyslog`, `snmptrapd`) and are looked for on PATH.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::daemon::{V3_AUTH_PASSWORD, V3_PRIV_PASSWORD, V3_USER};
use crate::host;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rsyslogd,
    Snmptrapd,
}

impl Kind {
    pub fn program(self) -> &'static str {
        match self {
            Kind::Rsyslogd => "rsyslogd",
            Kind::Snmptrapd => "snmptrapd",
        }
    }
}

/// The first `program` on PATH.
pub fn find(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub struct Peer {
    pub kind: Kind,
    child: Child,
    dir: tempfile::TempDir,
    pub target: SocketAddr,
}

impl Peer {
    /// rsyslogd with imudp on a free port and one omfile action for everything: no system
    /// config, no other inputs, default queues, default file template.
    pub fn rsyslogd() -> Result<Peer, String> {
        let exe = find("rsyslogd").ok_or("rsyslogd not on PATH (Debian package rsyslog)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = host::free_udp_port();
        let d = dir.path().display();
        let conf = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imudp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             *.* action(type=\"omfile\" file=\"{d}/messages.log\")\n"
        );
        std::fs::write(dir.path().join("rsyslog.conf"), conf).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.arg("-n")
            .arg("-f")
            .arg(dir.path().join("rsyslog.conf"))
            .arg("-i")
            .arg(dir.path().join("rsyslogd.pid"));
        Peer::spawn(Kind::Rsyslogd, cmd, dir, port)
    }

    /// snmptrapd logging every trap to a file: no system config (-C), no MIBs loaded (as
    /// Debian's snmp.conf has it), numeric addresses (-n), any community (disableAuthorization),
    /// and the SNMPv3 user once per sender engine in `engines` (a trap receiver needs the
    /// sender's engine ID to localize keys).
    pub fn snmptrapd(engines: &[Vec<u8>]) -> Result<Peer, String> {
        let exe = find("snmptrapd").ok_or("snmptrapd not on PATH (Debian package snmptrapd)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = host::free_udp_port();
        let mut conf = String::from("disableAuthorization yes\n");
        for e in engines {
            conf += &format!(
                "createUser -e 0x{} {V3_USER} SHA {V3_AUTH_PASSWORD} AES {V3_PRIV_PASSWORD}\n",
                mutt::hex::encode(e)
            );
        }
        std::fs::write(dir.path().join("snmptrapd.conf"), conf).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.env("SNMP_PERSISTENT_DIR", dir.path())
            .args(["-f", "-n", "-m", "", "-C", "-Lf"])
            .arg(dir.path().join("traps.log"))
            .arg("-c")
            .arg(dir.path().join("snmptrapd.conf"))
            .arg("-p")
            .arg(dir.path().join("snmptrapd.pid"))
            .arg(format!("udp:127.0.0.1:{port}"));
        Peer::spawn(Kind::Snmptrapd, cmd, dir, port)
    }

    fn spawn(
        kind: Kind,
        mut cmd: Command,
        dir: tempfile::TempDir,
        port: u16,
    ) -> Result<Peer, String> {
        let err = std::fs::File::create(dir.path().join("stderr")).map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", kind.program()))?;
        let mut peer = Peer {
            kind,
            child,
            dir,
            target: ([127, 0, 0, 1], port).into(),
        };
        let up = host::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            host::udp_port_taken(port).then_some(())
        });
        if up.is_none() || peer.child.try_wait().ok().flatten().is_some() {
            let stderr =
                std::fs::read_to_string(peer.dir.path().join("stderr")).unwrap_or_default();
            peer.kill();
            return Err(format!("{} did not start: {stderr}", kind.program()));
        }
        Ok(peer)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> PathBuf {
        self.dir.path().join(match self.kind {
            Kind::Rsyslogd => "messages.log",
            Kind::Snmptrapd => "traps.log",
        })
    }

    /// Bytes written to the output file so far.
    pub fn output_bytes(&self) -> u64 {
        std::fs::metadata(self.output()).map_or(0, |m| m.len())
    }

    /// When the output file was last written.
    pub fn output_modified(&self) -> Option<std::time::SystemTime> {
        std::fs::metadata(self.output()).ok()?.modified().ok()
    }

    /// Messages written: lines holding `marker` for rsyslogd (its own notices do not count),
    /// trap header lines for snmptrapd (each trap is a header line, then its varbinds).
    pub fn written(&self, marker: &str) -> u64 {
        let needle = match self.kind {
            Kind::Rsyslogd => marker,
            Kind::Snmptrapd => " [UDP: [",
        };
        count_lines(&self.output(), needle.as_bytes())
    }

    fn kill(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }

    pub fn stop(mut self) {
        self.kill();
    }
}

fn count_lines(path: &Path, needle: &[u8]) -> u64 {
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(512);
    let mut n = 0;
    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
        if line.windows(needle.len()).any(|w| w == needle) {
            n += 1;
        }
        line.clear();
    }
    n
}
