//! Errors in a master's supervision round, logged once each: a round runs
//! ten times a second, and the same failure (a pid that cannot be adopted,
//! a signal refused, a metrics write that fails) would otherwise fill the
//! log with one line per tick. The first time a distinct text is seen it is
//! logged; after that it is counted, and logged again with its count at 10,
//! 100, 1000... occurrences, so a persisting error stays visible without
//! flooding.

use std::collections::HashMap;

/// The most distinct texts remembered; past it the oldest counts are
/// forgotten (a text seen again after that is logged as new).
pub const DISTINCT_MAX: usize = 256;

/// The longest text kept (bytes); longer texts are cut at a character
/// boundary (so a hostile message cannot make the record grow).
pub const TEXT_MAX: usize = 1024;

/// Distinct round errors and how often each was seen.
#[derive(Debug, Default)]
pub struct RoundErrors {
    seen: HashMap<String, u64>,
    order: std::collections::VecDeque<String>,
}

impl RoundErrors {
    pub fn new() -> RoundErrors {
        RoundErrors::default()
    }

    /// Notes one occurrence of `text`; returns the line to log now, if any:
    /// the text the first time, then the text with its count at each power
    /// of ten.
    pub fn note(&mut self, text: &str) -> Option<String> {
        let text = cut(text);
        let n = match self.seen.get_mut(text) {
            Some(n) => {
                *n = n.saturating_add(1);
                *n
            }
            None => {
                if self.order.len() >= DISTINCT_MAX {
                    if let Some(old) = self.order.pop_front() {
                        self.seen.remove(&old);
                    }
                }
                self.seen.insert(text.to_string(), 1);
                self.order.push_back(text.to_string());
                1
            }
        };
        if n == 1 {
            Some(text.to_string())
        } else if is_power_of_ten(n) {
            Some(format!("{text} (seen {n} times)"))
        } else {
            None
        }
    }

    /// How often `text` was seen (0: never, or forgotten).
    pub fn count(&self, text: &str) -> u64 {
        self.seen.get(cut(text)).copied().unwrap_or(0)
    }
}

fn cut(text: &str) -> &str {
    if text.len() <= TEXT_MAX {
        return text;
    }
    let mut end = TEXT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_distinct_error_is_logged_once_then_at_powers_of_ten() {
        let mut e = RoundErrors::new();
        assert_eq!(e.note("boom").as_deref(), Some("boom"));
        let logged: Vec<u64> = (2..=1000).filter(|_| e.note("boom").is_some()).collect();
        assert_eq!(logged.len(), 3, "at 10, 100 and 1000");
        assert_eq!(e.count("boom"), 1000);
        assert_eq!(e.note("other").as_deref(), Some("other"));
        let mut e = RoundErrors::new();
        for _ in 0..9 {
            e.note("x");
        }
        assert_eq!(e.note("x").as_deref(), Some("x (seen 10 times)"));
    }

    #[test]
    fn the_record_is_bounded() {
        let mut e = RoundErrors::new();
        for i in 0..(DISTINCT_MAX + 10) {
            assert!(e.note(&format!("error {i}")).is_some());
        }
        assert_eq!(e.seen.len(), DISTINCT_MAX);
        assert_eq!(e.count("error 0"), 0, "the oldest was forgotten");
        let long = "é".repeat(TEXT_MAX);
        assert!(e.note(&long).unwrap().len() <= TEXT_MAX);
    }
}
