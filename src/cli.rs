//! The `mutt` command line: subcommands, and the exit codes (0 ok, 2 bad config or usage,
//! 1 runtime failure).

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::daemon::{self, DaemonError};
use crate::decode::snmp::{ber, ber::tag, pdu};
use crate::decode::{snmp, syslog};
use crate::model::{Listener, Transport};
use crate::pipeline::process::{process, ProcessContext};
use crate::rules::RuleSet;
use crate::store::{Detail, MessageRow, Rejection};
use crate::wal::{Record, RecordMeta};

pub use crate::daemon::{EXIT_CONFIG, EXIT_RUNTIME};
pub const EXIT_OK: i32 = 0;

#[derive(Debug, Parser)]
#[command(
    name = "mutt",
    version,
    about = "MUTT: a crash-safe SNMP trap and syslog collector"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, default_value = "config/mutt_config.yaml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Receive, store and alert until SIGINT/SIGTERM.
    Run,
    /// Drain a WAL directory into the configured database (offline recovery).
    Replay {
        /// The WAL directory (usually wal/).
        wal_dir: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Create or upgrade the database schema (storage.backend: PostgreSQL or SQLite), then exit.
    Migrate {
        /// SQLite: also rebuild the index of messages by device (device_blocks, message_blocks)
        /// from the rows, after rows were deleted other than by `mutt archive`. It holds the
        /// write lock while it reads every message (about 5 s per million): a running collector's
        /// writer waits.
        #[arg(long)]
        reindex: bool,
    },
    /// Check the configuration and the rules file, then exit.
    CheckConfig,
    /// Show how MUTT decodes messages, as JSON, one object per message.
    Decode {
        #[command(subcommand)]
        what: DecodeCommand,
    },
    /// Offer syslog load over UDP at a set rate (to measure a running MUTT).
    Load {
        /// Where to send, e.g. 127.0.0.1:5514.
        #[arg(long, default_value = "127.0.0.1:5514")]
        target: std::net::SocketAddr,
        /// Messages per second (0 = as fast as possible).
        #[arg(long, default_value_t = 100_000)]
        rate: u64,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        /// Source addresses to send from (127.0.1.x to a loopback target), as a fleet would.
        #[arg(long, default_value_t = 1)]
        devices: usize,
    },
    /// Move messages received before a time out of the database into archive files
    /// (storage.archiver.path), exactly once, even if interrupted and run again.
    #[command(
        group(clap::ArgGroup::new("cutoff").required(true).args(["older_than", "before"])),
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true
    )]
    Archive {
        #[command(subcommand)]
        what: Option<crate::archive::cli::ArchiveCommand>,
        /// Messages received longer ago than this: a number and s, m, h or d (`7d`).
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Messages received before this RFC 3339 time (`2026-11-01T00:00:00Z`).
        #[arg(long, value_name = "TIME")]
        before: Option<String>,
        /// Print what would be archived (rows per type and time range) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check a rules file, or show which rule a message matches.
    Rules {
        #[command(subcommand)]
        what: RulesCommand,
    },
    /// Serve the web UI alone (web.listen), read-only over the database, until SIGINT/SIGTERM.
    Web,
}

#[derive(Debug, Subcommand)]
pub enum DecodeCommand {
    /// One syslog line per input line.
    Syslog {
        /// Input file; `-` or nothing for standard input.
        file: Option<PathBuf>,
        /// The receive time to decode against (year inference), ISO 8601; default now.
        #[arg(long)]
        received_at: Option<String>,
    },
    /// One SNMP datagram per file (raw bytes, or hex text with --hex).
    Snmp {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        hex: bool,
    },
    /// Stored messages again, from the bytes as received (`messages.raw_bytes`, else
    /// `raw_message`), with today's MIBs and SNMPv3 users: one JSON line each.
    Stored {
        /// `messages.id` values; with --dead-letter, `dead_letters.id` values.
        #[arg(required = true)]
        ids: Vec<String>,
        #[arg(long)]
        dead_letter: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rules file (default: the configured one).
    Check { file: Option<PathBuf> },
    /// Show which rule a message would match, its severity and action. The message goes through
    /// the same decoding, checks and matching as one received from 127.0.0.1, with the
    /// configured rules, MIBs, SNMPv3 users and communities.
    #[command(after_help = RULES_TEST_EXAMPLES)]
    Test {
        /// The message, as --type says.
        #[arg(required_unless_present = "oid")]
        text: Option<String>,
        #[arg(long = "type", value_enum, default_value = "syslog")]
        kind: KindArg,
        /// Instead of TEXT and --type: a minimal SNMPv2c trap with this snmpTrapOID (sysUpTime.0 =
        /// 0, no other varbinds, the first configured community or `public`).
        #[arg(long, value_name = "OID", conflicts_with_all = ["text", "kind"])]
        oid: Option<String>,
    },
}

const RULES_TEST_EXAMPLES: &str = "Examples:
  mutt rules test '<13>Nov 27 10:00:00 sw1 ifmgr: Gi0/1 is down'
  mutt rules test --oid 1.3.6.1.6.3.1.1.5.3
  mutt rules test --type snmp-trap \"$(cat linkdown.hex)\"";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// TEXT is one syslog line.
    Syslog,
    /// TEXT is one SNMP datagram in hex, as `decode snmp --hex` reads it: digit pairs, any
    /// spacing or colons, `#` comments.
    SnmpTrap,
}

/// Run the parsed command; returns the process exit code.
pub fn execute(cli: Cli) -> i32 {
    match dispatch(&cli) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("mutt: {e}");
            e.exit_code()
        }
    }
}

/// Why a command failed: what the daemon's loading refuses, or a problem of the command line's
/// own input and output. The text is made only when `execute` prints it; [`CliError::exit_code`]
/// decides what the process returns.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration or a file it names does not load, or the daemon failed.
    #[error("{0}")]
    Daemon(#[from] DaemonError),
    /// `--received-at` is not an ISO 8601 time.
    #[error("--received-at: expected ISO 8601 like 2026-01-01T00:00:00Z, got {0:?}")]
    ReceivedAt(String),
    /// A file given with `decode snmp --hex` is not hex text.
    #[error("{}: not hex text", .0.display())]
    NotHex(PathBuf),
    /// `rules test --type snmp-trap` was given TEXT that is not hex.
    #[error("TEXT: not hex text (with --type snmp-trap, TEXT is one SNMP datagram in hex)")]
    TextNotHex,
    /// `rules test --oid` was given something that is not an OID.
    #[error("--oid: expected a dotted OID like 1.3.6.1.6.3.1.1.5.3, got {0:?}")]
    NotOid(String),
    /// `mutt rules` was given no file and the configuration names none.
    #[error("no pattern_matching.rules_file configured")]
    NoRulesFile,
    /// An input file cannot be read.
    #[error("{}: {source}", .path.display())]
    Input { path: PathBuf, source: io::Error },
    /// Standard input or output failed.
    #[error("{0}")]
    Io(#[source] io::Error),
    /// The database of `decode stored` cannot be opened.
    #[error("{}: {source}", .path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A message of `decode stored` cannot be read.
    #[error("{}: message {id}: {source}", .path.display())]
    Stored {
        path: PathBuf,
        id: String,
        source: rusqlite::Error,
    },
    /// `--older-than` is not an age.
    #[error("--older-than: expected a number and s, m, h or d like 7d, got {0:?}")]
    Age(String),
    /// `--before` is not an RFC 3339 time.
    #[error("--before: expected RFC 3339 like 2026-11-01T00:00:00Z, got {0:?}")]
    Before(String),
    /// `mutt archive` failed; nothing it did not report was deleted.
    #[error("archive: {0}")]
    Archive(#[from] crate::archive::ArchiveError),
    /// `mutt archive verify` found files that do not match.
    #[error("{failed} of {total} archive files failed verification")]
    Verify { failed: usize, total: usize },
    /// `mutt load` cannot send.
    #[error("sending to {target}: {source}")]
    Load {
        target: std::net::SocketAddr,
        source: io::Error,
    },
}

impl CliError {
    /// What the process returns: 2 when the input or a setting must change, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Daemon(e) => e.exit_code(),
            CliError::ReceivedAt(_)
            | CliError::NotHex(_)
            | CliError::TextNotHex
            | CliError::NotOid(_)
            | CliError::NoRulesFile
            | CliError::Age(_)
            | CliError::Before(_) => EXIT_CONFIG,
            CliError::Input { .. }
            | CliError::Io(_)
            | CliError::Database { .. }
            | CliError::Stored { .. }
            | CliError::Archive(_)
            | CliError::Verify { .. }
            | CliError::Load { .. } => EXIT_RUNTIME,
        }
    }
}

pub(crate) fn load_config(path: &Path) -> Result<Config, CliError> {
    Ok(Config::load(path).map_err(DaemonError::from)?)
}

fn dispatch(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Run => {
            let cfg = load_config(&cli.config)?;
            daemon::private_files();
            daemon::init_logging(&cfg)?;
            daemon::run(&cfg)?;
            Ok(())
        }
        Command::Migrate { reindex } => {
            let cfg = load_config(&cli.config)?;
            println!("migrate: {}", daemon::migrate(&cfg, *reindex)?);
            Ok(())
        }
        Command::Replay { wal_dir, quiet } => {
            let cfg = load_config(&cli.config)?;
            daemon::private_files();
            daemon::init_logging(&cfg)?;
            let stored = daemon::replay(&cfg, wal_dir, !quiet)?;
            println!("replay: {stored} messages stored");
            Ok(())
        }
        Command::Web => {
            let cfg = load_config(&cli.config)?;
            daemon::serve_web(&cfg)?;
            Ok(())
        }
        Command::CheckConfig => {
            // The same loading `run` does before it binds: config, rules, credentials, MIBs, TLS.
            let cfg = load_config(&cli.config)?;
            let resources = daemon::Resources::load(&cfg)?;
            for w in &resources.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: ok ({} rules)",
                cli.config.display(),
                resources.rule_count()
            );
            Ok(())
        }
        Command::Decode { what } => decode(cli, what),
        Command::Rules { what } => rules(cli, what),
        Command::Archive {
            what,
            older_than,
            before,
            dry_run,
        } => crate::archive::cli::dispatch(
            cli,
            what.as_ref(),
            older_than.as_deref(),
            before.as_deref(),
            *dry_run,
        ),
        Command::Load {
            target,
            rate,
            count,
            devices,
        } => {
            let before = crate::metrics::udp_rcvbuf_errors();
            let run = (crate::timefmt::now_us() / 1_000_000) as u32;
            let r = crate::loadgen::send_syslog_udp(*target, *rate, *count, run, *devices)
                .map_err(|source| CliError::Load {
                    target: *target,
                    source,
                })?;
            let drops = crate::metrics::udp_rcvbuf_errors()
                .zip(before)
                .map(|(a, b)| a.saturating_sub(b));
            println!(
                "sent {} in {:.2}s ({:.0}/s), not sent {}, kernel receive-buffer drops on this host {}",
                r.sent,
                r.elapsed.as_secs_f64(),
                r.rate(),
                r.send_errors,
                drops.map_or("unknown".to_string(), |d| d.to_string())
            );
            Ok(())
        }
    }
}

fn decode(cli: &Cli, what: &DecodeCommand) -> Result<(), CliError> {
    let out = io::stdout();
    let mut out = out.lock();
    match what {
        DecodeCommand::Syslog { file, received_at } => {
            let offset = optional_config(&cli.config)?.map_or(0, |c| c.default_utc_offset_secs());
            let received_at_us = match received_at {
                Some(s) => crate::timefmt::parse_rfc3339_us(s)
                    .ok_or_else(|| CliError::ReceivedAt(s.clone()))?,
                None => crate::timefmt::now_us(),
            };
            let ctx = syslog::ParseContext {
                received_at_us,
                default_utc_offset_secs: offset,
            };
            let input: Box<dyn BufRead> = match file {
                Some(p) if p.as_os_str() != "-" => Box::new(io::BufReader::new(
                    std::fs::File::open(p).map_err(|source| CliError::Input {
                        path: p.clone(),
                        source,
                    })?,
                )),
                _ => Box::new(io::stdin().lock()),
            };
            for line in input.split(b'\n') {
                let line = line.map_err(CliError::Io)?;
                let msg = syslog::parse(&line, &ctx);
                writeln!(out, "{}", syslog::to_json(&msg)).map_err(CliError::Io)?;
            }
            Ok(())
        }
        DecodeCommand::Snmp { files, hex } => {
            let (names, usm) = snmp_context(cli)?;
            let ctx = snmp::DecodeContext {
                names: &names,
                usm: usm.as_deref(),
            };
            for path in files {
                let bytes = std::fs::read(path).map_err(|source| CliError::Input {
                    path: path.clone(),
                    source,
                })?;
                let datagram = if *hex {
                    crate::hex::parse_dump(&bytes).ok_or_else(|| CliError::NotHex(path.clone()))?
                } else {
                    bytes
                };
                let msg = snmp::decode_with(&datagram, &ctx);
                writeln!(out, "{}", snmp::to_json(&msg)).map_err(CliError::Io)?;
            }
            Ok(())
        }
        DecodeCommand::Stored { ids, dead_letter } => {
            decode_stored(cli, ids, *dead_letter, &mut out)
        }
    }
}

/// The configured MIBs and SNMPv3 users, as the daemon would use them; the built-in names and no
/// users without a configuration file.
fn snmp_context(
    cli: &Cli,
) -> Result<
    (
        std::sync::Arc<snmp::names::NameTable>,
        Option<std::sync::Arc<snmp::Usm>>,
    ),
    CliError,
> {
    match optional_config(&cli.config)? {
        Some(cfg) => {
            let resources = daemon::Resources::load(&cfg)?;
            for w in &resources.warnings {
                eprintln!("warning: {w}");
            }
            Ok((resources.names().clone(), resources.usm()))
        }
        None => Ok((std::sync::Arc::new(snmp::names::builtin().clone()), None)),
    }
}

/// `mutt decode stored`: read each message's received bytes from the database and decode them.
fn decode_stored(
    cli: &Cli,
    ids: &[String],
    dead_letter: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let cfg = load_config(&cli.config)?;
    let db = &cfg.storage.database.path;
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|source| CliError::Database {
                path: db.clone(),
                source,
            })?;
    let sql = if dead_letter {
        "SELECT CAST(id AS TEXT), type, source_ip, received_at, raw_bytes, NULL, error
         FROM dead_letters WHERE id = ?1"
    } else {
        "SELECT id, type, source_ip, received_at, raw_bytes, raw_message, error_message
         FROM messages WHERE id = ?1"
    };
    let (names, usm) = snmp_context(cli)?;
    let ctx = snmp::DecodeContext {
        names: &names,
        usm: usm.as_deref(),
    };
    for id in ids {
        type Stored = (
            String,
            String,
            String,
            String,
            Option<Vec<u8>>,
            Option<String>,
            Option<String>,
        );
        let row: Stored = conn
            .query_row(sql, [id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(|source| CliError::Stored {
                path: db.clone(),
                id: id.clone(),
                source,
            })?;
        let (id, kind, source_ip, received_at, raw_bytes, raw_message, error) = row;
        let bytes = raw_bytes.unwrap_or_else(|| raw_message.unwrap_or_default().into_bytes());
        let decoded = if kind == "snmp_trap" {
            snmp::to_json(&snmp::decode_with(&bytes, &ctx))
        } else {
            let received_at_us = crate::timefmt::parse_rfc3339_us(&received_at)
                .unwrap_or_else(crate::timefmt::now_us);
            let parse_ctx = syslog::ParseContext {
                received_at_us,
                default_utc_offset_secs: cfg.default_utc_offset_secs(),
            };
            syslog::to_json(&syslog::parse(&bytes, &parse_ctx))
        };
        let line = serde_json::json!({
            "id": id,
            "type": kind,
            "source_ip": source_ip,
            "received_at": received_at,
            "raw_hex": crate::hex::encode(&bytes),
            "error": error,
            "decoded": decoded,
        });
        writeln!(out, "{line}").map_err(CliError::Io)?;
    }
    Ok(())
}

/// The configuration when its file exists (decoding works without one); a file that exists but
/// does not load is an error.
fn optional_config(path: &Path) -> Result<Option<Config>, CliError> {
    if !path.exists() {
        return Ok(None);
    }
    load_config(path).map(Some)
}

fn rules(cli: &Cli, what: &RulesCommand) -> Result<(), CliError> {
    let configured = || -> Result<PathBuf, CliError> {
        load_config(&cli.config)?
            .pattern_matching
            .rules_file
            .ok_or(CliError::NoRulesFile)
    };
    match what {
        RulesCommand::Check { file } => {
            let path = match file {
                Some(f) => f.clone(),
                None => configured()?,
            };
            let set = RuleSet::load(&path).map_err(DaemonError::from)?;
            println!("{}: ok ({} rules)", path.display(), set.rules().len());
            Ok(())
        }
        RulesCommand::Test { text, kind, oid } => {
            rules_test(cli, text.as_deref(), *kind, oid.as_deref())
        }
    }
}

/// `mutt rules test`: one message through `pipeline::process`, as if received from 127.0.0.1
/// over UDP just now, with what `run` loads: the rules, MIBs and SNMPv3 users, and
/// `snmp.communities`.
fn rules_test(
    cli: &Cli,
    text: Option<&str>,
    kind: KindArg,
    oid: Option<&str>,
) -> Result<(), CliError> {
    let cfg = load_config(&cli.config)?;
    if cfg.pattern_matching.rules_file.is_none() {
        return Err(CliError::NoRulesFile);
    }
    let resources = daemon::Resources::load(&cfg)?;
    for w in &resources.warnings {
        eprintln!("warning: {w}");
    }
    let (listener, payload) = match (oid, text, kind) {
        (Some(oid), ..) => {
            let arcs = parse_oid(oid).ok_or_else(|| CliError::NotOid(oid.to_string()))?;
            let community = cfg
                .snmp
                .communities
                .first()
                .map_or("public", String::as_str);
            (Listener::Snmp, minimal_v2c_trap(community, &arcs))
        }
        (None, Some(hex), KindArg::SnmpTrap) => {
            let datagram = crate::hex::parse_dump(hex.as_bytes()).ok_or(CliError::TextNotHex)?;
            (Listener::Snmp, datagram)
        }
        (None, line, KindArg::Syslog) => (Listener::Syslog, line.unwrap_or("").as_bytes().to_vec()),
        // clap asks for TEXT when there is no --oid.
        (None, None, KindArg::SnmpTrap) => return Err(CliError::TextNotHex),
    };
    let record = Record {
        seq: 0,
        meta: RecordMeta {
            received_at_us: crate::timefmt::now_us(),
            source: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            transport: Transport::Udp as u8,
            listener: listener as u8,
            flags: 0,
        },
        payload,
    };
    let rules = resources.rules();
    let usm = resources.usm();
    let source_offsets = cfg.source_utc_offsets();
    let ctx = ProcessContext {
        rules: &rules,
        default_utc_offset_secs: cfg.default_utc_offset_secs(),
        source_utc_offsets: &source_offsets,
        communities: &cfg.snmp.communities,
        dns: None,
        now: std::time::Instant::now(),
        usm: usm.as_deref(),
        store_unauthenticated: cfg.snmpv3.store_unauthenticated,
        names: resources.names(),
    };
    let row = process(&record, &ctx);
    for e in &row.validation_errors {
        eprintln!("note: {e}");
    }
    println!("{}", rule_decision(&row));
    Ok(())
}

/// What `rules test` says about a processed message.
fn rule_decision(row: &MessageRow) -> String {
    let untrusted = match &row.detail {
        Detail::Snmp(t) => t.untrusted.is_some(),
        Detail::Syslog(_) => false,
    };
    match (&row.rule, row.rejected) {
        (Some(r), _) => format!(
            "matches {} ({}): severity {}, action {}",
            r.id,
            r.name,
            r.severity,
            r.action.as_str()
        ),
        (None, Some(Rejection::Community)) => {
            "not stored: its community is not in snmp.communities, so no rule runs".into()
        }
        (None, Some(Rejection::V3(_))) => {
            "not stored: an SNMPv3 message that is not trusted, so no rule runs".into()
        }
        (None, None) if untrusted => {
            "stored unmatched: an SNMPv3 message that is not trusted, so no rule runs".into()
        }
        (None, None) => "no rule matches: stored unmatched".into(),
    }
}

/// `1.3.6.1.6.3.1.1.5.3` (a leading dot allowed) as arcs; None when it is not an OID.
fn parse_oid(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    let arcs: Vec<u32> = text
        .strip_prefix('.')
        .unwrap_or(text)
        .split('.')
        .map(|arc| arc.parse().ok())
        .collect::<Option<_>>()?;
    match arcs.as_slice() {
        [0 | 1, second, ..] if *second < 40 => Some(arcs),
        [2, _, ..] => Some(arcs),
        _ => None,
    }
}

/// An SNMPv2-Trap with only the varbinds RFC 3416 section 4.2.6 requires: sysUpTime.0 = 0 and
/// snmpTrapOID.0 = `trap_oid`.
fn minimal_v2c_trap(community: &str, trap_oid: &[u32]) -> Vec<u8> {
    let varbind = |name: &[u32], value: &dyn Fn(&mut Vec<u8>)| {
        let mut vb = Vec::new();
        ber::write_oid(&mut vb, name);
        value(&mut vb);
        let mut out = Vec::new();
        ber::write_tlv(&mut out, tag::SEQUENCE, &vb);
        out
    };
    let mut varbinds = varbind(pdu::SYS_UPTIME_0, &|v| {
        ber::write_tlv(v, tag::TIME_TICKS, &[0])
    });
    varbinds.extend(varbind(pdu::SNMP_TRAP_OID_0, &|v| {
        ber::write_oid(v, trap_oid)
    }));
    let mut list = Vec::new();
    ber::write_tlv(&mut list, tag::SEQUENCE, &varbinds);
    let mut body = Vec::new();
    ber::write_integer(&mut body, 1); // version: v2c
    ber::write_tlv(&mut body, tag::OCTET_STRING, community.as_bytes());
    snmp::inform::write_pdu(&mut body, pdu::SNMPV2_TRAP, 1, 0, &list);
    let mut out = Vec::new();
    ber::write_tlv(&mut out, tag::SEQUENCE, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oid_is_dotted_arcs_that_start_as_x690_allows() {
        assert_eq!(parse_oid("1.3.6.1.6.3.1.1.5.3").map(|a| a.len()), Some(10));
        assert_eq!(parse_oid(" .1.3.6 "), Some(vec![1, 3, 6]));
        assert_eq!(parse_oid("2.999"), Some(vec![2, 999]));
        for bad in [
            "",
            "1",
            "3.1",
            "1.40",
            "1..3",
            "1.3.x",
            "IF-MIB::linkDown",
            "1.3.-1",
        ] {
            assert_eq!(parse_oid(bad), None, "{bad}");
        }
    }

    #[test]
    fn usage_errors_exit_2_and_failures_at_run_time_1_with_the_words_they_always_had() {
        let e = CliError::ReceivedAt("yesterday".into());
        assert_eq!(e.exit_code(), EXIT_CONFIG);
        assert_eq!(
            e.to_string(),
            "--received-at: expected ISO 8601 like 2026-01-01T00:00:00Z, got \"yesterday\""
        );
        let e = CliError::NotHex(PathBuf::from("trap.hex"));
        assert_eq!(
            (e.exit_code(), e.to_string().as_str()),
            (EXIT_CONFIG, "trap.hex: not hex text")
        );
        assert_eq!(CliError::NoRulesFile.exit_code(), EXIT_CONFIG);
        let e = CliError::Input {
            path: PathBuf::from("lines.txt"),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
        assert!(e.to_string().starts_with("lines.txt: "), "{e}");
        let e = CliError::Load {
            target: std::net::SocketAddr::from(([127, 0, 0, 1], 5514)),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(e.exit_code(), EXIT_RUNTIME);
        assert!(
            e.to_string().starts_with("sending to 127.0.0.1:5514: "),
            "{e}"
        );
    }
}
