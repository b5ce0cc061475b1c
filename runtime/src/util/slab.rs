//! [`Slab`]: the one generational slab of the runtime, and its [`Token`].
//!
//! The reactor keeps its registered fds in one, the timer store its
//! timers, and each scheduler its live tasks. A value is found again by
//! the `Token` its insert returned: the slot's index plus the slot's
//! generation at that moment. Removing a value bumps the generation, so a
//! token kept past its value's life (an event still in flight for a closed
//! fd, a cancelled timer's heap entry) finds nothing, even after the slot
//! was reused.

use std::fmt;

/// Identifies a value in a [`Slab`]: `generation << 32 | index`.
///
/// Index `u32::MAX` is never handed out, so no token equals `u64::MAX`,
/// which the pollers reserve for their wake-up fd.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Token(u64);

impl Token {
    fn new(index: u32, generation: u32) -> Token {
        Token((u64::from(generation) << 32) | u64::from(index))
    }

    /// The token as the kernel carries it (`epoll_event.u64`, `udata`, `user_data`).
    pub(crate) fn to_raw(self) -> u64 {
        self.0
    }

    /// A token the kernel handed back.
    pub(crate) fn from_raw(raw: u64) -> Token {
        Token(raw)
    }

    /// The slot index.
    pub(crate) fn index(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({}@{})", self.index(), self.generation())
    }
}

/// One slot: a value, or free, and the generation tokens must carry.
#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// A vector of slots with a free list; O(1) insert, lookup and remove.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    /// Indices of free slots, reused first (most recently freed first).
    free: Vec<u32>,
    /// Occupied slots.
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab::new()
    }
}

impl<T> Slab<T> {
    pub(crate) const fn new() -> Slab<T> {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Stores the value `make` builds from its own token. `None` (and
    /// `make` is not called) when all 2³² − 1 indices are taken, which
    /// memory runs out long before.
    pub(crate) fn insert_with(&mut self, make: impl FnOnce(Token) -> T) -> Option<Token> {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).ok().filter(|&i| i < u32::MAX)?;
                self.slots.push(Slot { generation: 0, value: None });
                i
            }
        };
        let slot = &mut self.slots[index as usize];
        let token = Token::new(index, slot.generation);
        slot.value = Some(make(token));
        self.len += 1;
        Some(token)
    }

    /// Stores `value`; see [`Slab::insert_with`].
    pub(crate) fn insert(&mut self, value: T) -> Result<Token, T> {
        let mut value = Some(value);
        match self.insert_with(|_| value.take().expect("taken once")) {
            Some(token) => Ok(token),
            None => Err(value.take().expect("not taken when the slab is full")),
        }
    }

    /// The value stored under `token`, unless it was removed since.
    #[inline]
    pub(crate) fn get(&self, token: Token) -> Option<&T> {
        match self.slots.get(token.index()) {
            Some(slot) if slot.generation == token.generation() => slot.value.as_ref(),
            _ => None,
        }
    }

    /// The stored values with their tokens, in slot order.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Token, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, slot)| {
            let value = slot.value.as_ref()?;
            Some((Token::new(i as u32, slot.generation), value))
        })
    }

    /// The value stored under `token`, mutably.
    pub(crate) fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        let slot = self.slots.get_mut(token.index()).filter(|s| s.generation == token.generation())?;
        slot.value.as_mut()
    }

    /// True if `token` still names a value.
    pub(crate) fn contains(&self, token: Token) -> bool {
        self.get(token).is_some()
    }

    /// Takes the value out; a stale token changes nothing.
    pub(crate) fn remove(&mut self, token: Token) -> Option<T> {
        let slot = self.slots.get_mut(token.index()).filter(|s| s.generation == token.generation())?;
        let value = slot.value.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(token.index() as u32);
        self.len -= 1;
        Some(value)
    }

    /// Values stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Slots allocated, used or free (tests check that slots are reused).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Takes every value out. Tokens issued before stay stale forever:
    /// the slots keep their (bumped) generations.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if let Some(value) = slot.value.take() {
                slot.generation = slot.generation.wrapping_add(1);
                self.free.push(index as u32);
                out.push(value);
            }
        }
        self.len = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_token_finds_nothing_after_reuse() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        assert_eq!(slab.get(a), Some(&"a"));
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_ne!(a, b, "with a new generation");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn insert_with_sees_its_own_token() {
        let mut slab = Slab::new();
        let t = slab.insert_with(|t| t.to_raw()).unwrap();
        assert_eq!(slab.get(t), Some(&t.to_raw()));
        assert_eq!(Token::from_raw(t.to_raw()), t);
    }

    #[test]
    fn drain_empties_and_stales() {
        let mut slab = Slab::new();
        let tokens: Vec<_> = (0..5).map(|i| slab.insert(i).unwrap()).collect();
        slab.remove(tokens[2]);
        let mut all = slab.drain();
        all.sort();
        assert_eq!(all, [0, 1, 3, 4]);
        assert_eq!(slab.len(), 0);
        assert!(tokens.iter().all(|&t| !slab.contains(t)));
        let again = slab.insert(9).unwrap();
        assert!(!tokens.contains(&again));
    }
}
