//! Running the compiled matcher: the lowest-index enabled rule among all candidates wins.
//!
//! Per field: one exact-hash lookup, one overlapping Aho-Corasick scan that yields keyword hits
//! and the gated regexes worth running, those regexes in rule order, then the ungated `RegexSet`.
//! Each step skips rules that come after the best match found so far, so an early hit makes the
//! rest cheap. Nothing allocates for ASCII text once the [`Scratch`] buffers have grown to the message size.

use std::cell::RefCell;

use super::compile::{FieldMatcher, Matcher, Target};
use super::{MatchInput, Rule};

/// Reusable buffers for [`RuleSet::eval_with`](super::RuleSet::eval_with); one per worker.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The field lowercased, for exact lookups and non-ASCII keyword search.
    lower: String,
    /// Gated regexes whose literal was seen.
    candidates: Vec<usize>,
}

/// Buffers above this are given back after use so one huge message does not pin memory.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch, or a fresh one if it is already in use (re-entrancy).
pub(super) fn with_thread_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut Scratch::default()),
    })
}

impl Matcher {
    /// Index of the first enabled rule that matches `input`.
    pub(super) fn first_match(
        &self,
        rules: &[Rule],
        input: &MatchInput<'_>,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        let mut best = usize::MAX;
        for fm in &self.fields {
            let mut ctx = Ctx {
                matcher: self,
                rules,
                input,
                best,
            };
            ctx.field(fm, scratch);
            best = ctx.best;
        }
        if scratch.lower.capacity() > SCRATCH_KEEP {
            scratch.lower = String::new();
        }
        if scratch.candidates.capacity() > SCRATCH_KEEP / 8 {
            scratch.candidates = Vec::new();
        }
        (best != usize::MAX).then_some(best)
    }
}

struct Ctx<'m, 'i> {
    matcher: &'m Matcher,
    rules: &'m [Rule],
    input: &'m MatchInput<'i>,
    best: usize,
}

impl Ctx<'_, '_> {
    /// Takes `rule` if it beats the best so far and its filters let the message through.
    fn offer(&mut self, rule: usize) -> bool {
        if rule < self.best && self.allowed(rule) {
            self.best = rule;
            return true;
        }
        false
    }

    fn allowed(&self, rule: usize) -> bool {
        if !self.matcher.filtered.get(rule).copied().unwrap_or(false) {
            return true;
        }
        self.rules
            .get(rule)
            .is_some_and(|r| r.applies_to(self.input))
    }

    fn field(&mut self, fm: &FieldMatcher, scratch: &mut Scratch) {
        let text = fm.field.get(self.input);
        let ascii = text.is_ascii();
        let lowered = !ascii || !fm.exact.is_empty();
        if lowered {
            lowercase_into(text, &mut scratch.lower);
        }
        if !fm.exact.is_empty() {
            if let Some(rules) = fm.exact.get(scratch.lower.as_str()) {
                for &rule in rules {
                    self.offer(rule);
                }
            }
        }
        scratch.candidates.clear();
        if let Some(ac) = &fm.automaton {
            // ASCII text: the automaton's ASCII case folding is exactly lowercasing.
            let hay = if ascii { text } else { scratch.lower.as_str() };
            for m in ac.find_overlapping_iter(hay) {
                match fm.targets.get(m.pattern().as_usize()) {
                    Some(&Target::Keyword(rule)) => {
                        self.offer(rule);
                    }
                    Some(&Target::Literal(g)) => scratch.candidates.push(g),
                    None => {}
                }
            }
            // `ſ` folds to `s` in the regexes but lowercases to itself: the gate cannot see it.
            if !ascii && scratch.lower.contains('ſ') {
                scratch.candidates.clear();
                scratch.candidates.extend(0..fm.gated.len());
            }
        }
        self.gated(fm, text, &mut scratch.candidates);
        self.ungated(fm, text);
    }

    fn gated(&mut self, fm: &FieldMatcher, text: &str, candidates: &mut [usize]) {
        candidates.sort_unstable();
        let mut last = usize::MAX;
        for &g in candidates.iter() {
            let Some(gated) = fm.gated.get(g) else {
                continue;
            };
            if gated.rule >= self.best {
                break; // candidates are in rule order
            }
            if g == last {
                continue;
            }
            last = g;
            if self.allowed(gated.rule) && gated.regex.is_match(text) {
                self.best = gated.rule;
                break;
            }
        }
    }

    fn ungated(&mut self, fm: &FieldMatcher, text: &str) {
        let Some(set) = &fm.ungated else { return };
        if fm.ungated_rules.first().map_or(true, |&r| r >= self.best) || !set.is_match(text) {
            return;
        }
        // Only a message that some ungated regex matches gets here; `matches` allocates.
        for i in set.matches(text).iter() {
            match fm.ungated_rules.get(i) {
                Some(&rule) if rule < self.best => {
                    if self.offer(rule) {
                        break;
                    }
                }
                _ => break,
            }
        }
    }
}

/// `str::to_lowercase` into a reused buffer. Non-ASCII text goes through `str::to_lowercase`
/// itself (one allocation) because its final-sigma rule differs from lowercasing char by char.
fn lowercase_into(text: &str, out: &mut String) {
    out.clear();
    if text.is_ascii() {
        out.push_str(text);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&text.to_lowercase());
    }
}
