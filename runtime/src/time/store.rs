//! The timer store: a binary heap of deadlines over a slab of waker slots.
//!
//! Insert is O(log n) (O(1) when deadlines arrive in increasing order, the
//! common `sleep(d)` case); cancel is O(1): it frees the slot and bumps its
//! generation, leaving the heap entry behind as a tombstone that is skipped
//! when it surfaces. When tombstones outnumber live timers the heap is
//! rebuilt, so a million sleeps created and dropped stay cheap.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Identifies one registered timer: slot plus the generation it was issued at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    generation: u32,
}

/// A heap entry: the deadline (ns since the store's origin) and its slot.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    at: u64,
    slot: u32,
    generation: u32,
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
        other.at.cmp(&self.at).then_with(|| other.slot.cmp(&self.slot))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// One timer slot; live while `waker` is `Some`.
#[derive(Debug)]
struct Slot {
    generation: u32,
    waker: Option<Waker>,
}

/// All pending timers of one runtime. Runtime thread only.
#[derive(Debug)]
pub(crate) struct TimerStore {
    /// Deadlines are stored as nanoseconds since this instant.
    origin: Instant,
    heap: BinaryHeap<Entry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Live timers (heap entries minus tombstones).
    live: usize,
}

impl TimerStore {
    pub(crate) fn new(origin: Instant) -> TimerStore {
        TimerStore { origin, heap: BinaryHeap::new(), slots: Vec::new(), free: Vec::new(), live: 0 }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Registers `waker` to be woken once `deadline` has passed.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, waker: None });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.waker = Some(waker);
        let generation = s.generation;
        self.heap.push(Entry { at: self.nanos(deadline), slot, generation });
        self.live += 1;
        TimerKey { slot, generation }
    }

    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots.get_mut(key.slot as usize).filter(|s| s.generation == key.generation && s.waker.is_some())
    }

    /// Replaces the timer's waker if it would wake someone else. False if
    /// the key is stale (fired or cancelled).
    pub(crate) fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.slot_mut(key) {
            Some(slot) => {
                if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    slot.waker = Some(waker.clone());
                }
                true
            }
            None => false,
        }
    }

    fn free_slot(&mut self, slot: u32) -> Option<Waker> {
        let s = &mut self.slots[slot as usize];
        let waker = s.waker.take();
        s.generation = s.generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
        waker
    }

    /// Cancels a timer; a stale key is ignored. Returns the waker so the
    /// caller can drop it outside any borrow.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<Waker> {
        self.slot_mut(key)?;
        let waker = self.free_slot(key.slot);
        if self.heap.len() > 1024 && self.heap.len() > 2 * self.live {
            let slots = &self.slots;
            self.heap.retain(|e| {
                let s = &slots[e.slot as usize];
                s.generation == e.generation && s.waker.is_some()
            });
        }
        waker
    }

    fn is_live(&self, e: &Entry) -> bool {
        let s = &self.slots[e.slot as usize];
        s.generation == e.generation && s.waker.is_some()
    }

    /// The earliest live deadline, dropping tombstones on top of the heap.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if self.is_live(top) {
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
            if self.is_live(&e) {
                out.extend(self.free_slot(e.slot));
            }
        }
    }

    /// Live timers.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Drops every timer (runtime shutdown), returning the wakers.
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        self.heap.clear();
        self.free.clear();
        self.live = 0;
        std::mem::take(&mut self.slots).into_iter().filter_map(|s| s.waker).collect()
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
        let late = store.insert(t0 + Duration::from_millis(30), w.clone());
        let early = store.insert(t0 + Duration::from_millis(10), w.clone());
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
            (0..5000).map(|i| store.insert(t0 + Duration::from_millis(i), Waker::noop().clone())).collect();
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
