//! The waiter queue shared by [`Notify`](super::Notify),
//! [`Semaphore`](super::Semaphore) and [`broadcast`](super::broadcast).
//!
//! A slab of entries threaded by a doubly linked list of slab indices, so
//! every operation is O(1) in safe Rust: append at the back, take from
//! either end, and remove any entry by its [`WaitKey`] (a cancelled future
//! leaving the middle of the queue).
//!
//! An entry has two lives. While *linked* it is in the queue, in FIFO order.
//! The notifier *unlinks* it (`pop_front`) and writes its verdict into it
//! (notified, permits granted); the entry stays in the slab until its owner,
//! the future holding the key, reads the verdict and [`remove`]s it. That
//! is what lets a dropped future see what it had been given and pass it on.
//!
//! Every owner must eventually call [`remove`] (futures do so when they
//! complete or drop); a slot is reused only after that.
//!
//! [`remove`]: WaitList::remove

use std::ops::DerefMut;
use std::sync::PoisonError;

use crate::loom::Mutex;

/// Locks `mutex`, ignoring poisoning: the primitives never run user code
/// under their locks, so a panic cannot leave their state half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> impl DerefMut<Target = T> + '_ {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// No slot: the end of a chain.
const NIL: usize = usize::MAX;

/// Names one entry of a [`WaitList`]; held by the future that waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaitKey {
    index: usize,
    /// The slot's generation when the entry was made: a key outliving its
    /// entry never names the slot's next occupant.
    generation: u64,
}

#[derive(Debug)]
struct Slot<T> {
    /// `None` while the slot is free.
    entry: Option<T>,
    generation: u64,
    linked: bool,
    /// Neighbours in the queue while linked; `next` chains the free slots.
    prev: usize,
    next: usize,
}

/// A FIFO queue of waiters with O(1) removal by key.
#[derive(Debug)]
pub(crate) struct WaitList<T> {
    slots: Vec<Slot<T>>,
    /// First free slot, chained through `Slot::next`.
    free: usize,
    head: usize,
    tail: usize,
    /// Linked entries (the queue's length).
    linked: usize,
}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> WaitList<T> {
        WaitList { slots: Vec::new(), free: NIL, head: NIL, tail: NIL, linked: 0 }
    }

    /// Entries in the queue (not counting unlinked ones awaiting removal).
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Appends `entry` at the back of the queue.
    pub(crate) fn push_back(&mut self, entry: T) -> WaitKey {
        let index = if self.free != NIL {
            let index = self.free;
            self.free = self.slots[index].next;
            index
        } else {
            self.slots.push(Slot { entry: None, generation: 0, linked: false, prev: NIL, next: NIL });
            self.slots.len() - 1
        };
        let tail = self.tail;
        let slot = &mut self.slots[index];
        slot.entry = Some(entry);
        slot.linked = true;
        slot.prev = tail;
        slot.next = NIL;
        let key = WaitKey { index, generation: slot.generation };
        match tail {
            NIL => self.head = index,
            t => self.slots[t].next = index,
        }
        self.tail = index;
        self.linked += 1;
        key
    }

    fn slot(&self, key: WaitKey) -> Option<&Slot<T>> {
        self.slots.get(key.index).filter(|s| s.generation == key.generation && s.entry.is_some())
    }

    fn slot_mut(&mut self, key: WaitKey) -> Option<&mut Slot<T>> {
        self.slots.get_mut(key.index).filter(|s| s.generation == key.generation && s.entry.is_some())
    }

    /// The entry `key` names, linked or not.
    pub(crate) fn get(&self, key: WaitKey) -> Option<&T> {
        self.slot(key).and_then(|s| s.entry.as_ref())
    }

    /// The entry `key` names, linked or not.
    pub(crate) fn get_mut(&mut self, key: WaitKey) -> Option<&mut T> {
        self.slot_mut(key).and_then(|s| s.entry.as_mut())
    }

    /// True while the entry is in the queue.
    pub(crate) fn is_linked(&self, key: WaitKey) -> bool {
        self.slot(key).is_some_and(|s| s.linked)
    }

    /// The key of the oldest queued entry.
    pub(crate) fn front(&self) -> Option<WaitKey> {
        self.key_at(self.head)
    }

    fn key_at(&self, index: usize) -> Option<WaitKey> {
        (index != NIL).then(|| WaitKey { index, generation: self.slots[index].generation })
    }

    /// Takes the oldest entry out of the queue; it stays readable by key.
    pub(crate) fn pop_front(&mut self) -> Option<(WaitKey, &mut T)> {
        let key = self.front()?;
        self.unlink(key);
        Some((key, self.slots[key.index].entry.as_mut()?))
    }

    /// Takes the newest entry out of the queue; it stays readable by key.
    pub(crate) fn pop_back(&mut self) -> Option<(WaitKey, &mut T)> {
        let key = self.key_at(self.tail)?;
        self.unlink(key);
        Some((key, self.slots[key.index].entry.as_mut()?))
    }

    /// Takes the entry out of the queue (if it is queued); it stays
    /// readable by key. Returns whether it was queued.
    pub(crate) fn unlink(&mut self, key: WaitKey) -> bool {
        let Some(slot) = self.slot_mut(key) else { return false };
        if !slot.linked {
            return false;
        }
        slot.linked = false;
        let (prev, next) = (slot.prev, slot.next);
        slot.prev = NIL;
        slot.next = NIL;
        match prev {
            NIL => self.head = next,
            p => self.slots[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n].prev = prev,
        }
        self.linked -= 1;
        true
    }

    /// Removes the entry for good (unlinking it first if queued) and frees
    /// its slot; `None` if `key` names no entry.
    pub(crate) fn remove(&mut self, key: WaitKey) -> Option<T> {
        self.unlink(key);
        let free = self.free;
        let slot = self.slot_mut(key)?;
        let entry = slot.entry.take();
        slot.generation = slot.generation.wrapping_add(1);
        slot.next = free;
        self.free = key.index;
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(list: &mut WaitList<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some((key, v)) = list.pop_front() {
            out.push(*v);
            list.remove(key);
        }
        out
    }

    #[test]
    fn fifo_order_with_removal_from_the_middle() {
        let mut list = WaitList::new();
        let keys: Vec<_> = (0..5).map(|i| list.push_back(i)).collect();
        assert_eq!(list.len(), 5);
        assert_eq!(list.remove(keys[2]), Some(2));
        assert_eq!(list.remove(keys[0]), Some(0));
        assert_eq!(list.remove(keys[4]), Some(4));
        assert_eq!(list.len(), 2);
        assert_eq!(drain(&mut list), [1, 3]);
        assert!(list.is_empty());
    }

    #[test]
    fn unlinked_entries_stay_readable_until_removed() {
        let mut list = WaitList::new();
        let a = list.push_back(1);
        let b = list.push_back(2);
        let (k, v) = list.pop_front().unwrap();
        assert_eq!((k, *v), (a, 1));
        *v = 10;
        assert!(!list.is_linked(a));
        assert!(list.is_linked(b));
        assert_eq!(list.get(a), Some(&10));
        assert_eq!(list.len(), 1);
        assert!(!list.unlink(a), "already unlinked");
        assert_eq!(list.remove(a), Some(10));
        assert_eq!(list.get(a), None);
        assert_eq!(list.pop_back().map(|(k, v)| (k, *v)), Some((b, 2)));
        assert!(list.pop_front().is_none());
    }

    #[test]
    fn stale_keys_never_name_a_reused_slot() {
        let mut list = WaitList::new();
        let a = list.push_back(1);
        list.remove(a);
        let b = list.push_back(2);
        assert_eq!(a.index, b.index, "the slot is reused");
        assert_eq!(list.get(a), None);
        assert_eq!(list.remove(a), None);
        assert!(!list.is_linked(a));
        assert_eq!(list.get_mut(b), Some(&mut 2));
        assert_eq!(list.slots.len(), 1);
    }

    #[test]
    fn interleaved_pushes_and_removals_keep_order() {
        let mut list = WaitList::new();
        let mut expected = std::collections::VecDeque::new();
        let mut keys = std::collections::VecDeque::new();
        for i in 0..200u32 {
            keys.push_back(list.push_back(i));
            expected.push_back(i);
            if i % 3 == 0 {
                // Remove the second-oldest, if any.
                if keys.len() > 1 {
                    let k = keys.remove(1).unwrap();
                    let v = expected.remove(1).unwrap();
                    assert_eq!(list.remove(k), Some(v));
                }
            }
            if i % 7 == 0 {
                let (k, v) = list.pop_front().unwrap();
                assert_eq!(Some(*v), expected.pop_front());
                assert_eq!(Some(k), keys.pop_front());
                list.remove(k);
            }
        }
        assert_eq!(drain(&mut list), Vec::from(expected));
        assert!(list.slots.len() < 200, "slots are reused");
    }
}
