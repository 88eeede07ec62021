//! What was seen lately, in memory and bounded: the dedupe that spares work a durable record
//! (a ledger, a store) would refuse anyway, or that one process alone needs.

use std::collections::HashSet;
use std::hash::Hash;

/// A set of at most `MAX` items that forgets everything once full: cheaper than an ordered
/// eviction, and right where forgetting costs only a repeat the caller tolerates.
#[derive(Debug)]
pub(crate) struct Seen<T, const MAX: usize> {
    items: HashSet<T>,
}

impl<T, const MAX: usize> Default for Seen<T, MAX> {
    fn default() -> Self {
        Seen {
            items: HashSet::new(),
        }
    }
}

impl<T: Hash + Eq, const MAX: usize> Seen<T, MAX> {
    /// `true` the first time `item` is seen since it was last forgotten.
    pub(crate) fn first(&mut self, item: T) -> bool {
        if self.items.len() >= MAX {
            self.items.clear();
        }
        self.items.insert(item)
    }

    /// Forgets `item`, so that it is seen for the first time again.
    pub(crate) fn forget(&mut self, item: &T) {
        self.items.remove(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_first_once_until_forgotten_and_a_full_set_starts_over() {
        let mut seen = Seen::<u32, 3>::default();
        assert!(seen.first(1));
        assert!(!seen.first(1));
        seen.forget(&1);
        assert!(seen.first(1));
        assert!(seen.first(2) && seen.first(3));
        // Full: the next item clears the set, so earlier ones are first again.
        assert!(seen.first(4));
        assert!(seen.first(1));
    }
}
