//! The device registry (the seed's `devices` table), updated in the writer's transaction.
//!
//! A device is its source address: its hostname follows the latest `source_device` (reverse DNS,
//! else the syslog HOSTNAME, else the address). The seed's UNIQUE hostname would make a second
//! address with the same name fail the batch, so such a row takes the name `name@address`
//! instead. A device that changes address is a new row; the old one keeps its last_updated.
//!
//! A busy device sends thousands of messages a second, a fleet thousands of devices per batch:
//! the registry remembers what it last wrote for each address and writes again only when
//! something changed (name, SNMP version, first syslog) or a minute has passed, so
//! `last_updated` is exact to the minute.
//!
//! Bounded: the table holds at most `max_devices` rows (`storage.database.max_devices`, default
//! 100,000). UDP source addresses are spoofable, so a flood from random addresses must neither
//! grow the table nor fail a batch: past the cap a new address's message is stored as usual but
//! gets no device row; it is counted in `devices_over_cap` and the cap is logged once. Devices
//! already in the table keep being updated. The cost per batch stays small: an address the
//! registry remembers writing needs no check, a new one one indexed lookup, and the row count is
//! read once and then kept by the registry (it is the table's only writer).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};
use tracing::warn;

use super::row::{Detail, MessageRow};
use crate::metrics::Metrics;
use crate::model::MessageKind;
use crate::timefmt::iso8601_us;

/// Default bound of the table's rows (`storage.database.max_devices`).
pub const DEFAULT_MAX_DEVICES: usize = 100_000;

/// How stale `last_updated` may get before a message from the device writes it again.
const REFRESH_US: i64 = 60_000_000;
/// Addresses remembered; beyond it the memory is cleared (the cost: one upsert each, once).
const MAX_REMEMBERED: usize = 100_000;
/// Longest stored host name: a DNS name is at most 253 octets; a syslog HOSTNAME can be anything.
const MAX_NAME_BYTES: usize = 255;

/// `s` cut to at most `max` bytes, on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What one batch says of a device: the name of its last message, the SNMP version of its last
/// trap that had one, whether it sent syslog, and its latest receive time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen<'a> {
    pub name: &'a str,
    pub snmp_version: Option<&'a str>,
    pub syslog: bool,
    pub at_us: i64,
}

/// Each address of `rows` once, in the order the batch first saw it, with what its rows say:
/// what both backends write to `devices`.
pub fn seen_in(rows: &[MessageRow]) -> Vec<(IpAddr, Seen<'_>)> {
    let mut seen: Vec<(IpAddr, Seen<'_>)> = Vec::new();
    let mut index: HashMap<IpAddr, usize> = HashMap::new();
    for row in rows {
        let i = *index.entry(row.source_ip).or_insert_with(|| {
            seen.push((
                row.source_ip,
                Seen {
                    name: &row.source_device,
                    snmp_version: None,
                    syslog: false,
                    at_us: row.received_at_us,
                },
            ));
            seen.len() - 1
        });
        let Some((_, e)) = seen.get_mut(i) else {
            continue;
        };
        e.name = &row.source_device;
        e.at_us = e.at_us.max(row.received_at_us);
        match (&row.detail, row.kind) {
            (Detail::Snmp(t), _) if !t.version.is_empty() => e.snmp_version = Some(&t.version),
            (_, MessageKind::Syslog) => e.syslog = true,
            _ => {}
        }
    }
    seen
}

/// What the registry last wrote for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    name: String,
    snmp_version: Option<String>,
    syslog: bool,
    at_us: i64,
}

/// What one batch's [`DeviceRegistry::update`] did, to [`DeviceRegistry::remember`] once its
/// transaction committed (a rolled-back batch must not be remembered or counted).
#[derive(Debug, Default)]
pub struct DeviceWrites {
    written: Vec<(IpAddr, Written)>,
    /// Rows inserted (new addresses).
    added: usize,
    /// Rows in the table once committed, when this batch had to know.
    rows_after: Option<usize>,
    /// New addresses left without a row: the table was full.
    over_cap: u64,
}

impl DeviceWrites {
    /// New addresses that got no row because the table was at its cap.
    pub fn over_cap(&self) -> u64 {
        self.over_cap
    }
}

#[derive(Debug)]
pub struct DeviceRegistry {
    written: HashMap<IpAddr, Written>,
    max_devices: usize,
    /// Rows in the table after the last committed batch; None until first needed.
    rows: Option<usize>,
    metrics: Option<Arc<Metrics>>,
    /// The table was found full once already (the warning is logged once).
    warned: AtomicBool,
}

impl Default for DeviceRegistry {
    fn default() -> Self {
        DeviceRegistry::new(DEFAULT_MAX_DEVICES, None)
    }
}

impl DeviceRegistry {
    /// At most `max_devices` rows (at least 1); addresses over it are counted in `metrics`.
    pub fn new(max_devices: usize, metrics: Option<Arc<Metrics>>) -> DeviceRegistry {
        DeviceRegistry {
            written: HashMap::new(),
            max_devices: max_devices.max(1),
            rows: None,
            metrics,
            warned: AtomicBool::new(false),
        }
    }

    /// Upsert the devices of `rows` that need it, new addresses only while the table is below
    /// its cap. Returns what was done, to `remember` once the transaction commits.
    pub fn update(
        &self,
        tx: &Transaction<'_>,
        rows: &[MessageRow],
    ) -> rusqlite::Result<DeviceWrites> {
        // In the order the batch first saw each address: which new devices get the last places
        // under the cap is first come, first served, not hash order.
        let seen = seen_in(rows).into_iter().map(|(ip, s)| {
            let now = Written {
                name: s.name.to_owned(),
                snmp_version: s.snmp_version.map(str::to_owned),
                syslog: s.syslog,
                at_us: s.at_us,
            };
            (ip, now)
        });
        let mut upsert = tx.prepare_cached(
            "INSERT INTO devices (id, hostname, source_ip, last_seen_snmp_version, last_seen_syslog,
                 first_seen, last_updated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT(source_ip) DO UPDATE SET
                 hostname = excluded.hostname,
                 last_updated = excluded.last_updated,
                 last_seen_snmp_version =
                     COALESCE(excluded.last_seen_snmp_version, devices.last_seen_snmp_version),
                 last_seen_syslog = MAX(devices.last_seen_syslog, excluded.last_seen_syslog)",
        )?;
        let mut exists = tx.prepare_cached("SELECT 1 FROM devices WHERE source_ip = ?1 LIMIT 1")?;
        let mut out = DeviceWrites::default();
        // Rows in the table, read once when a new address first needs it.
        let mut table_rows = self.rows;
        for (ip, now) in seen {
            if !self.needs_write(&ip, &now) {
                continue;
            }
            let addr = ip.to_string();
            // An address written before has its row; any other may be new.
            let new = !self.written.contains_key(&ip)
                && exists.query_row([&addr], |_| Ok(())).optional()?.is_none();
            if new {
                let n = match table_rows {
                    Some(n) => n,
                    None => tx
                        .query_row("SELECT COUNT(*) FROM devices", [], |r| r.get::<_, i64>(0))?
                        as usize,
                };
                table_rows = Some(n);
                if n + out.added >= self.max_devices {
                    out.over_cap += 1;
                    continue;
                }
            }
            let when = iso8601_us(now.at_us);
            let id = uuid::Uuid::now_v7().to_string();
            let v = now.snmp_version.as_deref();
            // The name as sent, then `name@address`, then one no sender can have chosen: the
            // seed's UNIQUE hostname must never fail a batch, whatever names arrive.
            let name = clip(&now.name, MAX_NAME_BYTES);
            let candidates = [
                name.to_string(),
                format!("{name}@{addr}"),
                format!("{name}@{addr}#{}", &id[id.len() - 12..]),
            ];
            let mut stored = false;
            for candidate in &candidates {
                match upsert.execute(params![id, candidate, addr, v, now.syslog, when]) {
                    Ok(_) => {
                        stored = true;
                        break;
                    }
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.code == rusqlite::ErrorCode::ConstraintViolation => {}
                    Err(e) => return Err(e),
                }
            }
            if !stored {
                // Only a constraint the seed does not have (an operator's trigger, say) gets
                // here: the device row waits for its next message; the batch goes on.
                warn!(device = %addr, "device registry: row not updated (constraint)");
                continue;
            }
            out.added += usize::from(new);
            out.written.push((ip, now));
        }
        out.rows_after = table_rows.map(|n| n + out.added);
        Ok(out)
    }

    /// Record what a committed transaction wrote, and count what the cap kept out (the cap is
    /// logged the first time).
    pub fn remember(&mut self, writes: DeviceWrites) {
        let DeviceWrites {
            written,
            rows_after,
            over_cap,
            ..
        } = writes;
        if rows_after.is_some() {
            self.rows = rows_after;
        }
        if over_cap > 0 {
            if let Some(m) = &self.metrics {
                Metrics::add(&m.devices_over_cap, over_cap);
            }
            if !self.warned.swap(true, Ordering::Relaxed) {
                warn!(
                    max_devices = self.max_devices,
                    "the devices table is full (storage.database.max_devices): messages from new \
                     addresses are stored without a device row and counted (devices_over_cap); \
                     known devices keep being updated; this is logged once"
                );
            }
        }
        if self.written.len() + written.len() > MAX_REMEMBERED {
            self.written.clear();
        }
        for (ip, mut w) in written {
            if let Some(before) = self.written.get(&ip) {
                // The table keeps the last SNMP version and "syslog seen" sticky; so does memory.
                w.syslog |= before.syslog;
                if w.snmp_version.is_none() {
                    w.snmp_version.clone_from(&before.snmp_version);
                }
            }
            self.written.insert(ip, w);
        }
    }

    fn needs_write(&self, ip: &IpAddr, now: &Written) -> bool {
        let Some(before) = self.written.get(ip) else {
            return true;
        };
        before.name != now.name
            || (now.snmp_version.is_some() && now.snmp_version != before.snmp_version)
            || (now.syslog && !before.syslog)
            || now.at_us - before.at_us >= REFRESH_US
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(name: &str, at_us: i64) -> Written {
        Written {
            name: name.into(),
            snmp_version: None,
            syslog: true,
            at_us,
        }
    }

    fn writes(ip: IpAddr, w: Written) -> DeviceWrites {
        DeviceWrites {
            written: vec![(ip, w)],
            ..DeviceWrites::default()
        }
    }

    #[test]
    fn an_unchanged_device_is_written_again_only_after_a_minute() {
        let mut r = DeviceRegistry::default();
        let ip = IpAddr::from([10, 0, 0, 1]);
        assert!(r.needs_write(&ip, &written("a", 0)));
        r.remember(writes(ip, written("a", 0)));
        assert!(!r.needs_write(&ip, &written("a", 59_000_000)));
        assert!(r.needs_write(&ip, &written("a", 60_000_000)));
        assert!(
            r.needs_write(&ip, &written("b", 1)),
            "a new name is written at once"
        );
        let mut snmp = written("a", 1);
        snmp.syslog = false;
        snmp.snmp_version = Some("v2c".into());
        assert!(r.needs_write(&ip, &snmp), "a first trap is written at once");
        r.remember(writes(ip, snmp.clone()));
        assert!(!r.needs_write(&ip, &snmp));
        assert!(
            !r.needs_write(&ip, &written("a", 2)),
            "syslog was seen before"
        );
    }

    fn open() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store =
            crate::store::Store::open(&dir.path().join("d.db"), std::time::Duration::from_secs(1))
                .unwrap();
        (dir, store)
    }

    fn hostnames(dir: &tempfile::TempDir) -> Vec<(String, String)> {
        let c = rusqlite::Connection::open(dir.path().join("d.db")).unwrap();
        let mut q = c
            .prepare("SELECT source_ip, hostname FROM devices ORDER BY source_ip")
            .unwrap();
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn names_that_collide_with_each_others_fallbacks_never_fail_a_batch() {
        use crate::store::MessageSink;
        let (dir, mut store) = open();
        // The three spoofed datagrams: the third one's fallback name is the second one's name.
        let rows = [
            MessageRow::test_syslog(1, "127.0.0.2", "victim"),
            MessageRow::test_syslog(2, "127.0.0.3", "victim@127.0.0.4"),
            MessageRow::test_syslog(3, "127.0.0.4", "victim"),
        ];
        for row in &rows {
            store
                .write_batch(std::slice::from_ref(row), row.seq)
                .unwrap();
        }
        let names = hostnames(&dir);
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], ("127.0.0.2".into(), "victim".into()));
        assert_eq!(names[1], ("127.0.0.3".into(), "victim@127.0.0.4".into()));
        assert!(names[2].1.starts_with("victim@127.0.0.4#"), "{names:?}");
        // All three in one batch, in a fresh database, as well.
        let (dir, mut store) = open();
        store.write_batch(&rows, 3).unwrap();
        assert_eq!(hostnames(&dir).len(), 3);
    }

    #[test]
    fn devices_renamed_back_and_forth_and_names_of_any_length_are_stored() {
        use crate::store::MessageSink;
        let (dir, mut store) = open();
        let long = "n".repeat(100_000);
        let mut seq = 0;
        for round in 0..6 {
            let (a, b) = if round % 2 == 0 {
                ("alpha", "beta")
            } else {
                ("beta", "alpha")
            };
            seq += 2;
            let mut x = MessageRow::test_syslog(seq - 1, "10.0.0.1", a);
            let mut y = MessageRow::test_syslog(seq, "10.0.0.2", b);
            // Each row counts as a new minute, so the registry writes every time.
            x.received_at_us += round * REFRESH_US;
            y.received_at_us += round * REFRESH_US;
            store.write_batch(&[x, y], seq).unwrap();
        }
        let row = MessageRow::test_syslog(seq + 1, "10.0.0.3", &long);
        store.write_batch(&[row], seq + 1).unwrap();
        let names = hostnames(&dir);
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[2].1.len(), MAX_NAME_BYTES);
        assert_eq!(clip("añb", 2), "a");
    }

    /// One batch through `registry` in its own transaction, as the writer does.
    fn batch(conn: &mut rusqlite::Connection, registry: &mut DeviceRegistry, rows: &[MessageRow]) {
        let tx = conn.transaction().unwrap();
        let writes = registry.update(&tx, rows).unwrap();
        tx.commit().unwrap();
        registry.remember(writes);
    }

    fn db() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c
    }

    fn device_names(c: &rusqlite::Connection) -> Vec<(String, String)> {
        let mut q = c
            .prepare("SELECT source_ip, hostname FROM devices ORDER BY source_ip")
            .unwrap();
        let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn the_table_stays_at_its_cap_and_known_devices_keep_being_updated() {
        let mut c = db();
        let metrics = Arc::new(Metrics::default());
        let mut registry = DeviceRegistry::new(3, Some(metrics.clone()));
        let first: Vec<MessageRow> = (1..=5)
            .map(|n| MessageRow::test_syslog(n, &format!("10.0.0.{n}"), &format!("sw{n}")))
            .collect();
        batch(&mut c, &mut registry, &first);
        assert_eq!(device_names(&c).len(), 3);
        assert_eq!(Metrics::get(&metrics.devices_over_cap), 2);
        // Renamed known devices are written; new addresses are still kept out.
        let second: Vec<MessageRow> = (1..=5)
            .map(|n| MessageRow::test_syslog(n, &format!("10.0.0.{n}"), &format!("core{n}")))
            .collect();
        batch(&mut c, &mut registry, &second);
        let names = device_names(&c);
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            names.iter().all(|(_, n)| n.starts_with("core")),
            "{names:?}"
        );
        assert_eq!(Metrics::get(&metrics.devices_over_cap), 4);
        // A registry that starts on a full table (a restart) reads the count and keeps the cap;
        // the known devices it has not written yet are found in the table and updated.
        let mut fresh = DeviceRegistry::new(3, Some(metrics.clone()));
        let mut third = second.clone();
        third[0].source_device = "edge1".into();
        batch(&mut c, &mut fresh, &third);
        assert_eq!(device_names(&c).len(), 3);
        assert_eq!(device_names(&c)[0].1, "edge1");
        assert_eq!(Metrics::get(&metrics.devices_over_cap), 6);
        assert_eq!(DeviceRegistry::default().max_devices, 100_000);
    }

    #[test]
    fn a_flood_of_spoofed_addresses_past_the_cap_grows_neither_table_nor_memory() {
        let mut c = db();
        let mut registry = DeviceRegistry::new(100, None);
        for round in 0..5u32 {
            let rows: Vec<MessageRow> = (0..2_000u32)
                .map(|n| {
                    let ip = std::net::Ipv4Addr::from(0x0a00_0000 + round * 2_000 + n);
                    MessageRow::test_syslog(u64::from(n), &ip.to_string(), "spoof")
                })
                .collect();
            batch(&mut c, &mut registry, &rows);
        }
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM devices", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 100);
        assert_eq!(registry.written.len(), 100);
        assert_eq!(registry.rows, Some(100));
    }

    #[test]
    fn a_rolled_back_batch_neither_counts_nor_fills_the_cap() {
        let mut c = db();
        let metrics = Arc::new(Metrics::default());
        let mut registry = DeviceRegistry::new(1, Some(metrics.clone()));
        let rows = [
            MessageRow::test_syslog(1, "10.0.0.1", "a"),
            MessageRow::test_syslog(2, "10.0.0.2", "b"),
        ];
        {
            let tx = c.transaction().unwrap();
            let writes = registry.update(&tx, &rows).unwrap();
            assert_eq!(writes.over_cap(), 1);
            // Dropped without commit: rolled back, never remembered.
        }
        assert_eq!(Metrics::get(&metrics.devices_over_cap), 0);
        assert!(device_names(&c).is_empty());
        batch(&mut c, &mut registry, &rows[1..]);
        assert_eq!(device_names(&c), [("10.0.0.2".into(), "b".into())]);
    }
}
