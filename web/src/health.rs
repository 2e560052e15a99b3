//! The health page: the daemon's own counters, read from its Prometheus `/metrics` over HTTP
//! (the UI shares no memory with the daemon, and `mutt web` runs without one). When the daemon
//! does not answer, the page says so.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use crate::html::{page as shell, UiError};
use crate::State;

/// One sample: the metric name with its labels, and the value.
pub type Sample = (String, f64);

/// Parse the Prometheus text format: every line that is not a comment is `name{labels} value`.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.trim().to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn fetch(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .max_redirects(0)
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response
        .body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_string()
        .map_err(|e| e.to_string())
}

fn sum(samples: &[Sample], prefix: &str, suffix: &str) -> f64 {
    samples
        .iter()
        .filter(|(n, _)| n.starts_with(prefix) && n.ends_with(suffix) && !n.contains('{'))
        .map(|(_, v)| v)
        .sum()
}

fn get(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
}

pub async fn page(state: State) -> Result<Response, UiError> {
    let url = state.0.metrics_url.clone();
    let fetched = match url.clone() {
        None => Err("metrics are turned off in the configuration (metrics.enabled)".to_string()),
        Some(u) => tokio::task::spawn_blocking(move || fetch(&u))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
    };
    let body = match fetched {
        Ok(text) => summary(&parse(&text)),
        Err(e) => html! {
            p.error.down #daemon-down {
                "The daemon is not answering at " (url.as_deref().unwrap_or("(none)")) ": " (e)
            }
            p { "The message pages still work: they read the database directly." }
        },
    };
    Ok(shell("Health", None, body).into_response())
}

/// The sum of a labelled family's samples (`name{...} value`); None when it has none.
fn family(samples: &[Sample], name: &str) -> Option<f64> {
    let prefix = format!("{name}{{");
    let mut found = samples
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .peekable();
    found.peek()?;
    Some(found.map(|(_, v)| v).sum())
}

/// Where the accepted messages are, and what was lost before acceptance, as two bars on one
/// scale: an operator sees at a glance whether any red is there.
fn chart(accepted: &[(&str, &str, f64)], lost: &[(&str, &str, f64)]) -> Markup {
    const W: f64 = 600.0;
    let total = |parts: &[(&str, &str, f64)]| parts.iter().map(|p| p.2).sum::<f64>();
    let scale = total(accepted).max(total(lost)).max(1.0);
    let bar = |y: u32, parts: &[(&str, &str, f64)]| {
        // Each part from where the one before it ended; a part that is not zero is at least 2
        // px wide, so one lost message shows.
        let mut x = 0.0;
        let rects: Vec<(&str, &str, f64, f64, f64)> = parts
            .iter()
            .filter(|p| p.2 > 0.0)
            .map(|&(class, label, v)| {
                let w = (v / scale * W).max(2.0);
                x += w;
                (class, label, v, x - w, w)
            })
            .collect();
        html! {
            @for (class, label, v, x, w) in rects {
                rect class=(class) x=(format!("{x:.1}")) y=(y) width=(format!("{w:.1}")) height="18" {
                    title { (label) ": " (v) }
                }
            }
        }
    };
    html! {
        svg.health #health-chart xmlns="http://www.w3.org/2000/svg" width="720" height="52" viewBox="0 0 720 52" {
            (bar(4, accepted))
            text x="608" y="17" { "accepted" }
            (bar(28, lost))
            text x="608" y="41" { "lost" }
        }
        p.legend {
            @for (class, label, _) in accepted.iter().chain(lost) {
                span class={ "key " (class) } {} " " (label) " "
            }
        }
    }
}

fn summary(s: &[Sample]) -> Markup {
    let n = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format!("{v}"));
    let socket_drops = family(s, "mutt_udp_socket_drops_total");
    let backlog = match (
        get(s, "mutt_wal_published_seq"),
        get(s, "mutt_checkpoint_seq"),
    ) {
        (Some(p), Some(c)) => Some((p - c).max(0.0)),
        _ => None,
    };
    let rows: Vec<(&str, String)> = vec![
        ("Accepted", n(Some(sum(s, "mutt_accepted_", "_total")))),
        ("Stored", n(get(s, "mutt_stored_total"))),
        ("Discarded by rules", n(get(s, "mutt_discarded_total"))),
        (
            "Stored with validation errors",
            n(get(s, "mutt_invalid_total")),
        ),
        (
            "Dropped: WAL full",
            n(get(s, "mutt_dropped_wal_full_total")),
        ),
        (
            "Dropped: disk full",
            n(get(s, "mutt_dropped_disk_full_total")),
        ),
        (
            "Rejected: SNMP community",
            n(get(s, "mutt_community_rejected_total")),
        ),
        (
            "Rejected: SNMPv3",
            n(Some(sum(s, "mutt_v3_rejected_", "_total"))),
        ),
        (
            "Stored raw (quarantined)",
            n(get(s, "mutt_quarantined_total")),
        ),
        ("Dead-lettered", n(get(s, "mutt_dead_lettered_total"))),
        ("WAL backlog (records)", n(backlog)),
        ("WAL on disk (bytes)", n(get(s, "mutt_wal_disk_bytes"))),
        (
            "Dropped by the kernel on MUTT's UDP sockets",
            n(socket_drops),
        ),
        (
            "UDP receive-buffer drops, whole host (every program)",
            n(get(s, "mutt_kernel_udp_rcvbuf_errors_total")),
        ),
    ];
    let v = |x: Option<f64>| x.unwrap_or(0.0);
    let accepted = [
        ("stored", "stored", v(get(s, "mutt_stored_total"))),
        (
            "discarded",
            "discarded by rules",
            v(get(s, "mutt_discarded_total")),
        ),
        (
            "rejected",
            "rejected (community, SNMPv3)",
            v(get(s, "mutt_community_rejected_total")) + sum(s, "mutt_v3_rejected_", "_total"),
        ),
        ("backlog", "waiting in the WAL", v(backlog)),
        (
            "dead",
            "dead-lettered",
            v(get(s, "mutt_dead_lettered_total")),
        ),
    ];
    let lost = [(
        "lost",
        "lost: WAL full, disk full, kernel drops on MUTT's sockets",
        v(get(s, "mutt_dropped_wal_full_total"))
            + v(get(s, "mutt_dropped_disk_full_total"))
            + v(socket_drops),
    )];
    html! {
        p.ok #daemon-up { "The daemon is running." }
        (chart(&accepted, &lost))
        table.grid #health {
            @for (label, value) in &rows { tr { th { (label) } td { (value) } } }
        }
        details {
            summary { "Every metric" }
            table.grid {
                @for (name, value) in s { tr { td { code { (name) } } td { (value) } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_is_read_without_comments_and_with_labels() {
        let text = "# HELP x\n# TYPE mutt_stored_total counter\nmutt_stored_total 12\n\
                    mutt_accepted_syslog_udp_total 3\nmutt_accepted_snmp_total 4\n\
                    h_bucket{le=\"0.1\"} 2\n";
        let s = parse(text);
        assert_eq!(get(&s, "mutt_stored_total"), Some(12.0));
        assert_eq!(sum(&s, "mutt_accepted_", "_total"), 7.0);
        assert_eq!(get(&s, "h_bucket{le=\"0.1\"}"), Some(2.0));
    }
}
