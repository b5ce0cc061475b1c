//! The timer store: a binary heap of deadlines over a slab of waker slots.
//!
//! Insert is O(log n) (O(1) when deadlines arrive in increasing order, the
//! common `sleep(d)` case); cancel is O(1): it frees the timer's slot in
//! the runtime's one slab, which bumps the slot's generation and leaves the
//! heap entry behind as a tombstone that is skipped when it surfaces. When
//! tombstones outnumber live timers the heap is rebuilt, so a million
//! sleeps created and dropped stay cheap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::util::slab::{Slab, Token};

/// Identifies one registered timer: its token in the store's slab.
pub(crate) type TimerKey = Token;

/// A heap entry: the deadline (ns since the store's origin) and its timer.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    at: u64,
    key: TimerKey,
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
        other.at.cmp(&self.at).then_with(|| other.key.to_raw().cmp(&self.key.to_raw()))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// All pending timers of one loop. Loop thread only.
#[derive(Debug)]
pub(crate) struct TimerStore {
    /// Deadlines are stored as nanoseconds since this instant.
    origin: Instant,
    heap: BinaryHeap<Entry>,
    /// The waker of each live timer. A heap entry whose key is gone from
    /// here is a tombstone.
    wakers: Slab<Waker>,
}

impl TimerStore {
    pub(crate) fn new(origin: Instant) -> TimerStore {
        TimerStore { origin, heap: BinaryHeap::new(), wakers: Slab::new() }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Registers `waker` to be woken once `deadline` has passed. `None`
    /// only if the store is full (2³² − 1 live timers).
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> Option<TimerKey> {
        let key = self.wakers.insert(waker).ok()?;
        self.heap.push(Entry { at: self.nanos(deadline), key });
        Some(key)
    }

    /// Replaces the timer's waker if it would wake someone else. False if
    /// the key is stale (fired or cancelled).
    pub(crate) fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.wakers.get_mut(key) {
            Some(slot) => {
                if !slot.will_wake(waker) {
                    slot.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Cancels a timer; a stale key is ignored. Returns the waker so the
    /// caller can drop it outside any borrow.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<Waker> {
        let waker = self.wakers.remove(key)?;
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.wakers.len() {
            let wakers = &self.wakers;
            self.heap.retain(|e| wakers.contains(e.key));
        }
        Some(waker)
    }

    /// The earliest live deadline, dropping tombstones on top of the heap.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if self.wakers.contains(top.key) {
                return Some(self.origin + Duration::from_nanos(top.at));
            }
            self.heap.pop();
        }
        None
    }

    /// Removes every timer whose deadline is `<= now`, moving its waker to
    /// `out` in deadline order. A timer never fires before its deadline.
    pub(crate) fn fire(&mut self, now: Instant, out: &mut Vec<Waker>) {
        let now = self.nanos(now);
        while let Some(top) = self.heap.peek() {
            if top.at > now {
                break;
            }
            let Some(e) = self.heap.pop() else { break };
            out.extend(self.wakers.remove(e.key));
        }
    }

    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.wakers.len()
    }

    /// Drops every timer (shutdown), returning the wakers.
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        self.heap.clear();
        self.wakers.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let t0 = Instant::now();
        let mut store = TimerStore::new(t0);
        let w = Waker::noop().clone();
        let late = store.insert(t0 + Duration::from_millis(30), w.clone()).unwrap();
        let early = store.insert(t0 + Duration::from_millis(10), w.clone()).unwrap();
        assert_eq!(store.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut out = Vec::new();
        store.fire(t0 + Duration::from_millis(9), &mut out);
        assert!(out.is_empty());
        store.fire(t0 + Duration::from_millis(10), &mut out);
        assert_eq!(out.len(), 1);
        assert!(!store.update(early, &w), "fired key is stale");
        assert!(store.update(late, &w));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn cancel_leaves_tombstones_that_are_skipped_and_compacted() {
        let t0 = Instant::now();
        let mut store = TimerStore::new(t0);
        let keys: Vec<_> =
            (0..5000).map(|i| store.insert(t0 + Duration::from_millis(i), Waker::noop().clone()).unwrap()).collect();
        for k in &keys[..4999] {
            store.cancel(*k);
        }
        assert_eq!(store.len(), 1);
        assert!(store.heap.len() < 3000, "compacted: {}", store.heap.len());
        assert_eq!(store.next_deadline(), Some(t0 + Duration::from_millis(4999)));
        let mut out = Vec::new();
        store.fire(t0 + Duration::from_secs(10), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(store.next_deadline(), None);
    }
}
