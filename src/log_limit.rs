//! Rate-limited repeated warnings: the first occurrence is logged at once, repeats within the
//! window are only counted and summarised in one line when the window closes.
//!
//! Spoofed UDP or a connection storm can repeat the same warning thousands of times a second;
//! one line per occurrence would fill the disk and hide everything else in the log. A
//! [`Repeats`] keeps one warning's state. It is pure: the caller passes `now` (monotonic) and
//! logs what it is told to, so a storm costs one line at its start and one line per window:
//!
//! ```text
//! WARN tcp connection refused: at the connection cap peer=192.0.2.7:40112 max=1024
//! WARN tcp connection refused: at the connection cap ... and 1,234 more in the last 60 s
//! ```
//!
//! The summary is written by the first [`Repeats::hit`] after the window, or by
//! [`Repeats::tick`] when the caller has a timer: a storm that simply stops is summarised at
//! the next tick.

use std::fmt;
use std::time::{Duration, Instant};

/// The window the house uses for repeated warnings.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What the caller logs for one [`Repeats::hit`] or [`Repeats::tick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Log this occurrence as it is: nothing was held back.
    First,
    /// Log one line for `more` occurrences held back over the last `over`.
    Summary { more: u64, over: Duration },
}

impl fmt::Display for Repeat {
    /// Empty for [`Repeat::First`]; ` and 1,234 more in the last 60 s` for a summary, to append
    /// to the warning's text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repeat::First => Ok(()),
            Repeat::Summary { more, over } => write!(
                f,
                " and {} more in the last {} s",
                thousands(*more),
                over.as_secs().max(1)
            ),
        }
    }
}

/// One warning's rate limit.
#[derive(Debug, Clone)]
pub struct Repeats {
    window: Duration,
    /// When the open window started; None: no occurrence in the last window.
    opened: Option<Instant>,
    /// Occurrences counted in the open window and not logged yet.
    held: u64,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats::new(WINDOW)
    }
}

impl Repeats {
    pub fn new(window: Duration) -> Repeats {
        Repeats {
            window,
            opened: None,
            held: 0,
        }
    }

    /// `n` occurrences (at least one) at `now`. Returns what to log, or None: counted, quiet.
    ///
    /// The first occurrence after a quiet window logs at once and opens a window. Later ones in
    /// that window are held. The first one after it logs the summary of everything held
    /// (itself included) and opens the next window, so a steady storm writes one line per
    /// window.
    pub fn hit(&mut self, now: Instant, n: u64) -> Option<Repeat> {
        let n = n.max(1);
        match self.opened {
            Some(opened) if now.saturating_duration_since(opened) < self.window => {
                self.held = self.held.saturating_add(n);
                None
            }
            Some(opened) if self.held > 0 => {
                let more = self.held.saturating_add(n);
                self.opened = Some(now);
                self.held = 0;
                Some(Repeat::Summary {
                    more,
                    over: now.saturating_duration_since(opened),
                })
            }
            _ => {
                // n > 1 at once (a batch): the line carries the batch's count itself.
                self.opened = Some(now);
                self.held = 0;
                Some(Repeat::First)
            }
        }
    }

    /// No occurrence now; closes a window that has ended. Returns the summary of what it held,
    /// if anything.
    pub fn tick(&mut self, now: Instant) -> Option<Repeat> {
        let opened = self.opened?;
        if now.saturating_duration_since(opened) < self.window {
            return None;
        }
        self.opened = None;
        let more = std::mem::take(&mut self.held);
        (more > 0).then(|| Repeat::Summary {
            more,
            over: now.saturating_duration_since(opened),
        })
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_occurrence_logs_at_once_and_repeats_in_the_window_are_held() {
        let t0 = Instant::now();
        let mut r = Repeats::default();
        assert_eq!(r.hit(t0, 1), Some(Repeat::First));
        for ms in (1..60_000).step_by(100) {
            assert_eq!(r.hit(at(t0, ms), 2), None);
        }
        assert_eq!(r.held, 1200);
    }

    #[test]
    fn a_steady_storm_writes_one_summary_per_window_counting_every_occurrence() {
        let t0 = Instant::now();
        let mut r = Repeats::default();
        let mut lines = Vec::new();
        // 10 per second for 3 minutes and a bit.
        for ms in (0..185_000).step_by(100) {
            if let Some(line) = r.hit(at(t0, ms), 1) {
                lines.push(line);
            }
        }
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], Repeat::First);
        let more: u64 = lines
            .iter()
            .map(|l| match l {
                Repeat::Summary { more, .. } => *more,
                Repeat::First => 1,
            })
            .sum();
        // Held since the last summary (180 s .. 185 s) and not yet logged.
        assert_eq!(more + r.held, 1850);
        assert_eq!(
            lines[1],
            Repeat::Summary {
                more: 600,
                over: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn a_storm_that_stops_is_summarised_by_the_next_tick_and_then_logs_afresh() {
        let t0 = Instant::now();
        let mut r = Repeats::default();
        assert_eq!(r.hit(t0, 1), Some(Repeat::First));
        assert_eq!(r.hit(at(t0, 5_000), 1233), None);
        assert_eq!(r.tick(at(t0, 59_999)), None, "window still open");
        let s = r.tick(at(t0, 61_000));
        assert_eq!(
            s,
            Some(Repeat::Summary {
                more: 1233,
                over: Duration::from_secs(61)
            })
        );
        assert_eq!(
            s.map(|s| s.to_string()).as_deref(),
            Some(" and 1,233 more in the last 61 s")
        );
        assert_eq!(r.tick(at(t0, 200_000)), None, "nothing left to say");
        assert_eq!(r.hit(at(t0, 300_000), 1), Some(Repeat::First));
    }

    #[test]
    fn a_lone_occurrence_per_window_is_always_logged_in_full() {
        let t0 = Instant::now();
        let mut r = Repeats::default();
        for minute in 0..5 {
            assert_eq!(r.hit(at(t0, minute * 61_000), 1), Some(Repeat::First));
        }
        assert_eq!(Repeat::First.to_string(), "");
    }

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
