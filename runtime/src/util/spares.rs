//! [`Spares`]: a thread's idle objects (buffers) kept for reuse.

use std::cell::{Cell, RefCell};

/// Objects a thread gives back and takes again: the last one given back in
/// a cell of its own, so a take that follows a give (an echo: read, write,
/// read) touches no list, and up to `cap` more in a list; beyond that a
/// given-back object is dropped. Kept in a `thread_local!`, it needs no lock.
pub(crate) struct Spares<T> {
    last: Cell<Option<T>>,
    more: RefCell<Vec<T>>,
    cap: usize,
}

impl<T> Spares<T> {
    /// Empty; keeps at most `cap + 1` objects.
    pub(crate) const fn new(cap: usize) -> Spares<T> {
        Spares { last: Cell::new(None), more: RefCell::new(Vec::new()), cap }
    }

    /// An idle object, if the thread has one.
    #[inline]
    pub(crate) fn take(&self) -> Option<T> {
        match self.last.take() {
            Some(t) => Some(t),
            None => self.take_more(),
        }
    }

    #[cold]
    fn take_more(&self) -> Option<T> {
        self.more.borrow_mut().pop()
    }

    /// Keeps `t` for the next [`Spares::take`], or drops it if `cap` are kept.
    #[inline]
    pub(crate) fn give(&self, t: T) {
        if let Some(older) = self.last.replace(Some(t)) {
            self.give_more(older);
        }
    }

    #[cold]
    fn give_more(&self, t: T) {
        let mut more = self.more.borrow_mut();
        if more.len() < self.cap {
            more.push(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_given_comes_back_first_and_the_rest_are_bounded() {
        let spares = Spares::new(2);
        assert_eq!(spares.take(), None);
        for i in 0..5 {
            spares.give(i);
        }
        // 4 in the cell, 0 and 1 in the list; 2 and 3 were dropped.
        assert_eq!(spares.take(), Some(4));
        assert_eq!(spares.take(), Some(1));
        assert_eq!(spares.take(), Some(0));
        assert_eq!(spares.take(), None);
    }
}
