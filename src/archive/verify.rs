//! `mutt archive verify`: does an archive file still hold what its manifest (and the `archives`
//! row, where the database has one) says it holds?

use std::io::Read;
use std::path::Path;

use mutt_query::{Conn, Value};
use sha2::{Digest, Sha256};

use super::files::{Manifest, MANIFEST_SUFFIX};
use super::records;
use super::ArchiveError;

/// What one file was checked against, and what did not match (empty: the file is sound).
#[derive(Debug, Default)]
pub struct Verdict {
    pub rows: u64,
    pub recorded: bool,
    pub problems: Vec<String>,
}

/// Where the manifest of the archive file `path` is: beside it, named after it.
pub fn manifest_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!("{name}{MANIFEST_SUFFIX}"))
}

/// Check `path` against its manifest and, when `conn` records it, its `archives` row: size,
/// SHA-256, rows, every line a JSON object with a text `id`, ids rising, first and last id.
/// A file or manifest that cannot be read is an error; a mismatch is a problem in the verdict.
pub fn verify(path: &Path, conn: Option<&mut Conn>) -> Result<Verdict, ArchiveError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let manifest_path = manifest_path(path);
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ArchiveError::Io { path: p, source }
    };
    let text = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(ArchiveError::Json)?;
    let mut verdict = Verdict::default();
    let mut problem = |p: String| verdict.problems.push(p);

    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    let sha256 = crate::hex::encode(&hash.finalize());
    if sha256 != manifest.sha256 {
        problem(format!(
            "sha256 {sha256}, the manifest says {}",
            manifest.sha256
        ));
    }
    if size != manifest.size_bytes {
        problem(format!(
            "{size} bytes, the manifest says {}",
            manifest.size_bytes
        ));
    }

    let (mut rows, mut first, mut last) = (0u64, None::<String>, None::<String>);
    for record in records::open(path)? {
        let record = match record {
            Ok(r) => r,
            Err(b) => {
                problem(format!("line {}: {}", b.line, b.reason));
                continue;
            }
        };
        let bad = |reason: String| format!("line {}: {reason}", record.line);
        let id = record
            .fields
            .get("id")
            .and_then(|id| id.as_str())
            .map(str::to_string);
        let Some(id) = id else {
            problem(bad("no \"id\" text".into()));
            continue;
        };
        if last.as_ref().is_some_and(|l| *l >= id) {
            problem(bad(format!("id {id} is not above the line before")));
        }
        first.get_or_insert_with(|| id.clone());
        last = Some(id);
        rows += 1;
    }
    if rows != manifest.rows {
        problem(format!(
            "{rows} messages, the manifest says {}",
            manifest.rows
        ));
    }
    if first.as_deref() != Some(manifest.first_id.as_str())
        || last.as_deref() != Some(manifest.last_id.as_str())
    {
        problem("the first or last id is not the manifest's".into());
    }
    if let Some(conn) = conn {
        let row: Option<(i64, i64, Option<String>)> = conn.first(
            "SELECT message_count, size_bytes, sha256 FROM archives WHERE filename = ?1",
            &[Value::from(name.as_str())],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        if let Some((count, bytes, hash)) = row {
            verdict.recorded = true;
            if count as u64 != rows || bytes as u64 != size || hash.as_deref() != Some(&sha256) {
                verdict.problems.push(format!(
                    "the archives row says {count} messages, {bytes} bytes, sha256 {}",
                    hash.unwrap_or_default()
                ));
            }
        }
    }
    verdict.rows = rows;
    Ok(verdict)
}
