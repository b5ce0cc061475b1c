//! The waiter queue shared by [`Notify`](super::Notify),
//! [`Semaphore`](super::Semaphore) and [`broadcast`](super::broadcast).
//!
//! The runtime's one slab holds the entries, threaded by a doubly linked
//! list of slab tokens, so every operation is O(1) in safe Rust: append at the back, take from
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
use crate::util::slab::{Slab, Token};

/// Locks `mutex`, ignoring poisoning: the primitives never run user code
/// under their locks, so a panic cannot leave their state half-updated.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> impl DerefMut<Target = T> + '_ {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Names one entry of a [`WaitList`]; held by the future that waits. A
/// token of the runtime's one slab: a key outliving its entry never names
/// the slot's next occupant.
pub(crate) type WaitKey = Token;

#[derive(Debug)]
struct Node<T> {
    entry: T,
    /// In the queue (else unlinked, awaiting its owner's `remove`).
    linked: bool,
    /// Neighbours in the queue while linked.
    prev: Option<WaitKey>,
    next: Option<WaitKey>,
}

/// A FIFO queue of waiters with O(1) removal by key: a doubly linked list
/// threaded through the entries of a [`Slab`].
#[derive(Debug)]
pub(crate) struct WaitList<T> {
    nodes: Slab<Node<T>>,
    head: Option<WaitKey>,
    tail: Option<WaitKey>,
    /// Linked entries (the queue's length).
    linked: usize,
}

impl<T> WaitList<T> {
    pub(crate) const fn new() -> WaitList<T> {
        WaitList { nodes: Slab::new(), head: None, tail: None, linked: 0 }
    }

    /// Entries in the queue (not counting unlinked ones awaiting removal).
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    fn node_mut(&mut self, key: WaitKey) -> &mut Node<T> {
        self.nodes.get_mut(key).expect("queue links name live entries")
    }

    /// Appends `entry` at the back of the queue.
    ///
    /// # Panics
    /// If 2³² − 1 waiters are queued at once (memory runs out first).
    pub(crate) fn push_back(&mut self, entry: T) -> WaitKey {
        let tail = self.tail;
        let node = Node { entry, linked: true, prev: tail, next: None };
        let Ok(key) = self.nodes.insert(node) else { panic!("more than 2^32 - 1 waiters on one queue") };
        match tail {
            None => self.head = Some(key),
            Some(t) => self.node_mut(t).next = Some(key),
        }
        self.tail = Some(key);
        self.linked += 1;
        key
    }

    /// The entry `key` names, linked or not.
    pub(crate) fn get(&self, key: WaitKey) -> Option<&T> {
        self.nodes.get(key).map(|n| &n.entry)
    }

    /// The entry `key` names, linked or not.
    pub(crate) fn get_mut(&mut self, key: WaitKey) -> Option<&mut T> {
        self.nodes.get_mut(key).map(|n| &mut n.entry)
    }

    /// True while the entry is in the queue.
    pub(crate) fn is_linked(&self, key: WaitKey) -> bool {
        self.nodes.get(key).is_some_and(|n| n.linked)
    }

    /// The key of the oldest queued entry.
    pub(crate) fn front(&self) -> Option<WaitKey> {
        self.head
    }

    /// Takes the oldest entry out of the queue; it stays readable by key.
    pub(crate) fn pop_front(&mut self) -> Option<(WaitKey, &mut T)> {
        let key = self.head?;
        self.unlink(key);
        Some((key, self.get_mut(key)?))
    }

    /// Takes the newest entry out of the queue; it stays readable by key.
    pub(crate) fn pop_back(&mut self) -> Option<(WaitKey, &mut T)> {
        let key = self.tail?;
        self.unlink(key);
        Some((key, self.get_mut(key)?))
    }

    /// Takes the entry out of the queue (if it is queued); it stays
    /// readable by key. Returns whether it was queued.
    pub(crate) fn unlink(&mut self, key: WaitKey) -> bool {
        let Some(node) = self.nodes.get_mut(key) else { return false };
        if !node.linked {
            return false;
        }
        node.linked = false;
        let (prev, next) = (node.prev.take(), node.next.take());
        match prev {
            None => self.head = next,
            Some(p) => self.node_mut(p).next = next,
        }
        match next {
            None => self.tail = prev,
            Some(n) => self.node_mut(n).prev = prev,
        }
        self.linked -= 1;
        true
    }

    /// Removes the entry for good (unlinking it first if queued) and frees
    /// its slot; `None` if `key` names no entry.
    pub(crate) fn remove(&mut self, key: WaitKey) -> Option<T> {
        self.unlink(key);
        self.nodes.remove(key).map(|n| n.entry)
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
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_eq!(list.get(a), None);
        assert_eq!(list.remove(a), None);
        assert!(!list.is_linked(a));
        assert_eq!(list.get_mut(b), Some(&mut 2));
        assert_eq!(list.nodes.len(), 1);
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
        assert!(list.nodes.slots() < 200, "slots are reused");
    }
}
