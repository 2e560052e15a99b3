//! A private PostgreSQL for the tests that store into one (Debian's `postgresql` package;
//! .ci/run installs it): `initdb` into a temporary directory as the unprivileged `postgres` user,
//! the postmaster on a free loopback port, stopped when dropped.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// The superuser's password in the test servers (TCP logins need it: scram-sha-256).
pub const PG_PASSWORD: &str = "pg-test-secret-4711";

/// The directory of initdb and postgres; panics when PostgreSQL is not installed.
fn pg_bin() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .max();
    found.expect(
        "postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb); .ci/run installs it",
    )
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the postgres user exists")
    };
    (id("-u"), id("-g"))
}

/// A private PostgreSQL on a free loopback port, in a temporary directory owned by `postgres`;
/// stopped when dropped.
pub struct PgServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    /// `-c name=value` settings besides the harness's own (TLS).
    pub settings: Vec<String>,
}

impl PgServer {
    pub fn start() -> PgServer {
        let bin = pg_bin();
        let dir = tempfile::tempdir().expect("tempdir");
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the tempdir");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PG_PASSWORD).expect("write pwfile");
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown pwfile");
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ])
            .args(["--locale=C", "--encoding=UTF8", "-U", "postgres"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PgServer {
            dir,
            port: free_port(),
            child: None,
            settings: Vec::new(),
        };
        server.run();
        server
    }

    /// A server that also speaks TLS, with a certificate for 127.0.0.1 that `issuer` signed.
    pub fn start_tls(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>) -> PgServer {
        let mut server = PgServer::start();
        server.stop();
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        let cert = params.signed_by(&key, issuer).expect("server certificate");
        let (uid, gid) = postgres_ids();
        let crt = server.dir.path().join("server.crt");
        let pem = server.dir.path().join("server.key");
        std::fs::write(&crt, cert.pem()).expect("write certificate");
        std::fs::write(&pem, key.serialize_pem()).expect("write key");
        for f in [&crt, &pem] {
            std::os::unix::fs::chown(f, Some(uid), Some(gid)).expect("chown");
            std::fs::set_permissions(f, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("chmod");
        }
        server.settings = vec![
            "ssl=on".into(),
            format!("ssl_cert_file={}", crt.display()),
            format!("ssl_key_file={}", pem.display()),
        ];
        server.run();
        server
    }

    /// Start the postmaster (as `postgres`) and wait until it accepts a login.
    pub fn run(&mut self) {
        let (uid, gid) = postgres_ids();
        let data = self.dir.path().join("data");
        let child = Command::new(pg_bin().join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(self.settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .uid(uid)
            .gid(gid)
            .spawn()
            .expect("start postgres");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(60);
        while self.try_connect("postgres").is_err() {
            assert!(Instant::now() < until, "postgres did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Fast shutdown (SIGINT: sessions are cut, the server exits cleanly) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGINT);
            wait_timeout(&mut child, Duration::from_secs(30));
        }
    }

    pub fn try_connect(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(PG_PASSWORD)
            .dbname(db)
            .connect(postgres::NoTls)
    }

    /// A new database, and a client on it.
    pub fn create_db(&self, name: &str) -> postgres::Client {
        let mut admin = self.try_connect("postgres").expect("connect");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        self.try_connect(name).expect("connect to the new database")
    }

    /// The `storage:` lines of a collector writing into `db` as `collector_id`, its password in
    /// a file in `env`.
    pub fn storage_yaml(&self, env: &Env, db: &str) -> String {
        let pwfile = env.path("pgpass");
        std::fs::write(&pwfile, format!("{PG_PASSWORD}\n")).expect("write pgpass");
        format!(
            "  backend: postgresql\n  postgresql:\n    url: postgresql://postgres@127.0.0.1:{}/{db}\n    \
             password_file: {}\n    sslmode: disable\n",
            self.port,
            pwfile.display()
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An Env whose daemon stores into `db` on `pg` as `collector`.
pub fn pg_env(pg: &PgServer, db: &str, collector: &str) -> Env {
    let env = Env::new(Setup::default());
    let mut setup = env.setup.clone();
    setup.storage_yaml = pg.storage_yaml(&env, db);
    setup.extra = format!("collector_id: {collector}\n");
    let env = Env { setup, ..env };
    env.write_config();
    env
}

/// Poll `sql`'s single bigint until `done` or `timeout`; returns the last value.
pub fn wait_pg(
    client: &mut postgres::Client,
    sql: &str,
    timeout: Duration,
    done: impl Fn(i64) -> bool,
) -> i64 {
    let until = Instant::now() + timeout;
    loop {
        let n: i64 = client.query_one(sql, &[]).expect(sql).get(0);
        if done(n) || Instant::now() >= until {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
