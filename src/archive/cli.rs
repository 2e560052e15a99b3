//! `mutt archive` and its subcommands on the command line: parse the cutoff, call the archive
//! module, print what it did. (Moved out of `cli.rs`, which keeps the other subcommands.)

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::archive::Database;
use crate::cli::{load_config, Cli, CliError};

/// `mutt archive`, its subcommand if any, and its cutoff otherwise.
pub fn dispatch(
    cli: &Cli,
    what: Option<&ArchiveCommand>,
    older_than: Option<&str>,
    before: Option<&str>,
    dry_run: bool,
) -> Result<(), CliError> {
    match what {
        Some(ArchiveCommand::List) => archive_list(cli),
        Some(ArchiveCommand::Verify { files }) => archive_verify(cli, files),
        Some(ArchiveCommand::Import { files }) => {
            let cfg = load_config(&cli.config)?;
            let db = Database::from_config(&cfg);
            let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
            let done = crate::archive::import_files(&db, &paths)?;
            for path in &done.unchecked {
                println!(
                    "{}: no manifest beside it; its lines were checked, its checksum was not",
                    path.display()
                );
            }
            println!(
                "imported {} messages from {} files; {} already stored, left as they were",
                done.stored,
                files.len(),
                done.already_stored
            );
            Ok(())
        }
        Some(ArchiveCommand::Vacuum) => archive_vacuum(cli),
        None => archive(cli, older_than, before, dry_run),
    }
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// The archives the database records: file, type, rows, size, time range, and whether the
    /// file is in storage.archiver.path.
    List,
    /// Check archive files against their manifests and `archives` rows: size, SHA-256, rows,
    /// each line a JSON object with an id, ids rising. Exit 1 if any file fails.
    Verify {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Store the messages of archive files in the database again, in one transaction: a bad
    /// line stops it with its file, line and reason, and nothing is stored.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Give the database's free pages back to the file system, with `mutt run` stopped. A file
    /// made before MUTT set auto_vacuum = INCREMENTAL is switched to it by one full VACUUM
    /// (rewrites the file; needs its size in free space); after that the daemon's archiver
    /// gives pages back in small steps on its own. SQLite only: PostgreSQL's autovacuum does
    /// this itself.
    Vacuum,
}

fn archive_vacuum(cli: &Cli) -> Result<(), CliError> {
    let cfg = load_config(&cli.config)?;
    let db = Database::from_config(&cfg);
    if db.sqlite_path().is_none() {
        // Before the WAL lock: this says what to do even beside a running daemon.
        return Err(CliError::Archive(
            crate::archive::ArchiveError::SqliteOnly {
                target: db.describe(),
                what: crate::archive::VACUUM_IS_SQLITES,
            },
        ));
    }
    // The daemon holds the WAL lock while it runs: a VACUUM beside it would hold its writer
    // for the whole rewrite.
    let _lock = crate::wal::lock_dir(&cfg.wal.path).map_err(|e| match e {
        crate::wal::WalError::Locked { dir, .. } => {
            CliError::Archive(crate::archive::ArchiveError::DaemonRunning(dir))
        }
        other => CliError::Daemon(other.into()),
    })?;
    let v = crate::archive::vacuum(&db)?;
    let how = if v.mode_before == 2 {
        "free pages given back"
    } else {
        "switched to auto_vacuum = INCREMENTAL by a full VACUUM"
    };
    println!(
        "{}: {how}: {} -> {} bytes in {:.1} s",
        cfg.storage.database.path.display(),
        v.bytes_before,
        v.bytes_after,
        v.seconds
    );
    Ok(())
}

fn archive(
    cli: &Cli,
    older_than: Option<&str>,
    before: Option<&str>,
    dry_run: bool,
) -> Result<(), CliError> {
    use crate::archive;
    let cfg = load_config(&cli.config)?;
    let cutoff_us = match (older_than, before) {
        (Some(age), _) => {
            let us = archive::parse_age_us(age).ok_or_else(|| CliError::Age(age.to_string()))?;
            crate::timefmt::now_us().saturating_sub(us)
        }
        (None, Some(t)) => {
            crate::timefmt::parse_rfc3339_us(t).ok_or_else(|| CliError::Before(t.to_string()))?
        }
        // clap requires one of the two.
        (None, None) => crate::timefmt::now_us(),
    };
    let cutoff = crate::timefmt::iso8601_us(cutoff_us);
    let db = Database::from_config(&cfg);
    let out = io::stdout();
    let mut out = out.lock();
    if dry_run {
        let spans = archive::plan(&db, &cutoff)?;
        writeln!(out, "would archive messages received before {cutoff}:").map_err(CliError::Io)?;
        for s in &spans {
            print_span(&mut out, s)?;
        }
        if spans.is_empty() {
            writeln!(out, "  nothing").map_err(CliError::Io)?;
        }
        return Ok(());
    }
    let target = archive::Target::from_config(&cfg.storage.archiver);
    let cutoff_at = archive::Cutoff::received_before_us(cutoff_us);
    let report = archive::run(&db, &target, &cutoff_at, &|_| false)?;
    for temp in &report.removed_temps {
        eprintln!(
            "removed the temporary file {} of an interrupted run",
            temp.display()
        );
    }
    for name in &report.removed_unrecorded {
        eprintln!("removed {name}: an interrupted run wrote it but never recorded it (its messages are still in the database)");
    }
    for name in &report.foreign {
        eprintln!(
            "left {name} alone: no archives row names it and its messages are not in this database"
        );
    }
    for (name, deleted) in &report.finished {
        eprintln!("finished {name} of an interrupted run: {deleted} archived messages deleted");
    }
    for name in &report.elsewhere {
        eprintln!(
            "left {name} alone: recorded and still being deleted, but not in this directory \
             (another collector's archiver wrote it; it finishes it)"
        );
    }
    for name in &report.created_partitions {
        eprintln!("created the partition {name} of messages ahead");
    }
    for (name, found, archived) in &report.kept_partitions {
        eprintln!(
            "kept the partition {name}: it holds {found} messages, {archived} were archived \
             from its period (stored late); those archived were deleted one by one, the rest \
             wait for the next run"
        );
    }
    writeln!(out, "archived messages received before {cutoff}:").map_err(CliError::Io)?;
    for m in &report.written {
        print_span(&mut out, &archive::span_of(m))?;
        writeln!(
            out,
            "    -> {} ({} bytes, sha256 {})",
            target.dir.join(&m.file).display(),
            m.size_bytes,
            m.sha256
        )
        .map_err(CliError::Io)?;
    }
    if report.written.is_empty() {
        writeln!(out, "  nothing").map_err(CliError::Io)?;
    }
    for (name, rows) in &report.dropped_partitions {
        writeln!(
            out,
            "  dropped the partition {name} ({rows} messages, archived above)"
        )
        .map_err(CliError::Io)?;
    }
    Ok(())
}

fn archive_list(cli: &Cli) -> Result<(), CliError> {
    let cfg = load_config(&cli.config)?;
    let entries = crate::archive::list(&Database::from_config(&cfg))?;
    let out = io::stdout();
    let mut out = out.lock();
    for e in &entries {
        let path = cfg.storage.archiver.path.join(&e.filename);
        let expired = e.expired_at.as_ref().map(|at| format!("expired {at}"));
        let state = match (e.complete, path.exists(), &expired) {
            (_, false, Some(expired)) => expired.as_str(),
            (true, true, _) => "ok",
            (false, true, _) => "deleting (run mutt archive to finish)",
            (_, false, None) => "file missing",
        };
        writeln!(
            out,
            "{}\t{}\t{} messages\t{} bytes\t{} .. {}\tarchived {}\t{}",
            e.filename,
            e.message_type.as_deref().unwrap_or("-"),
            e.message_count,
            e.size_bytes,
            e.earliest.as_deref().unwrap_or("-"),
            e.latest.as_deref().unwrap_or("-"),
            e.archived_at,
            state
        )
        .map_err(CliError::Io)?;
    }
    if entries.is_empty() {
        writeln!(out, "no archives recorded").map_err(CliError::Io)?;
    }
    Ok(())
}

fn archive_verify(cli: &Cli, files: &[PathBuf]) -> Result<(), CliError> {
    let cfg = load_config(&cli.config)?;
    let mut conn = crate::archive::open_for_verify(&Database::from_config(&cfg))?;
    let mut failed = 0;
    for path in files {
        match crate::archive::verify(path, conn.as_mut()) {
            Ok(v) if v.problems.is_empty() => println!(
                "{}: ok, {} messages{}",
                path.display(),
                v.rows,
                if v.recorded {
                    ""
                } else {
                    " (no archives row in this database)"
                }
            ),
            Ok(v) => {
                failed += 1;
                for p in &v.problems {
                    println!("{}: {p}", path.display());
                }
            }
            Err(e) => {
                failed += 1;
                println!("{}: {e}", path.display());
            }
        }
    }
    if failed > 0 {
        return Err(CliError::Verify {
            failed,
            total: files.len(),
        });
    }
    Ok(())
}

fn print_span(out: &mut impl Write, s: &crate::archive::Span) -> Result<(), CliError> {
    writeln!(
        out,
        "  {}: {} messages, received {} .. {}",
        s.message_type, s.rows, s.first_received_at, s.last_received_at
    )
    .map_err(CliError::Io)
}
