//! Per-generation jitter draws.
//!
//! A draw depends only on (seed, slot, generation, which limit), so every
//! process of a shared pool, and every language's tests, get the same draw
//! without sharing generator state. Draws are stratified: slot `s` of `n`
//! draws from its own `1/n` of `[0, jitter]`, rotated by generation, so
//! workers started together are guaranteed different limits (when the
//! jitter range is at least the number of slots) instead of merely likely.

use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Which limit a draw is for.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    Requests = 1,
    Lifetime = 2,
}

/// A draw in `[0, jitter]` for this slot and generation.
pub(crate) fn draw(
    seed: u64,
    slot: u32,
    slots: u32,
    generation: u32,
    which: Which,
    jitter: u64,
) -> u64 {
    if jitter == 0 {
        return 0;
    }
    let stream =
        (u64::from(slot) << 32 | u64::from(generation)).rotate_left(7) ^ (which as u64) << 61;
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let span = u128::from(jitter) + 1;
    let n = u128::from(slots.max(1));
    let stratum = u128::from((slot as u64 + generation as u64) % slots.max(1) as u64);
    let lo = stratum * span / n;
    let hi = (stratum + 1) * span / n;
    let width = hi - lo;
    let offset = if width == 0 {
        0
    } else {
        u128::from(rng.next_u64()) % width
    };
    (lo + offset) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_range_and_spread() {
        for seed in 0..50 {
            let mut seen = std::collections::BTreeSet::new();
            for slot in 0..8 {
                let d = draw(seed, slot, 8, 1, Which::Requests, 100);
                assert!(d <= 100);
                seen.insert(d);
            }
            assert_eq!(seen.len(), 8, "strata keep 8 workers apart");
        }
        assert_eq!(draw(1, 0, 1, 1, Which::Lifetime, 0), 0);
        // The widest range does not overflow the stratum arithmetic, and
        // the draw stays in its stratum: slot 3, generation 1 of 7 is
        // stratum 4, the fifth seventh of 2^64.
        let d = u128::from(draw(1, 3, 7, 1, Which::Lifetime, u64::MAX));
        let span = 1u128 << 64;
        assert!(d >= 4 * span / 7 && d < 5 * span / 7, "{d}");
    }
}
