//! Provided-buffer rings (`IORING_REGISTER_PBUF_RING`, 5.19): a slab of
//! equal buffers the kernel picks from for `recv` with `IOSQE_BUFFER_SELECT`,
//! so no memory is committed to a socket until data arrives.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use super::abi::*;
use super::{error, register, Cqe, Mmap, Ring};

/// Marks a buffer the kernel holds (in `BufRing::held`).
const KERNEL_OWNED: u32 = u32::MAX;

/// A provided-buffer ring registered as one buffer group of a [`Ring`].
///
/// Owns two anonymous mappings: the ring of `io_uring_buf` slots the kernel
/// reads (page-aligned, as registration requires) and one contiguous slab of
/// `count` buffers of `buf_size` bytes; buffer `id` is bytes
/// `id * buf_size ..` of the slab.
///
/// Every buffer is either the kernel's (listed in the ring, may be written
/// at any time) or the application's (reported by a completion and not yet
/// recycled); [`BufRing::take`] moves one to the application and
/// [`BufRing::recycle`] gives it back. Only application-held buffers can be
/// read.
///
/// Keeps the ring fd open (shared with the [`Ring`]), so [`Drop`] always
/// unregisters the group from the right ring, whichever is dropped first;
/// the mappings are freed after unregistering. Ops that select from the
/// group must have completed before the drop (the `unsafe` contract of
/// [`Sqe::recv_select`](super::Sqe::recv_select)).
pub(crate) struct BufRing {
    /// The ring slots: `count` `io_uring_buf`s; the kernel reads them, we write them.
    ring: Mmap,
    /// The buffers: `count * buf_size` bytes.
    slab: Mmap,
    /// The ring's tail, overlaid on slot 0's `resv`; we store it with `Release`.
    tail: NonNull<AtomicU16>,
    /// The io_uring fd the group is registered on.
    ring_fd: Rc<OwnedFd>,
    /// The buffer group id.
    group: u16,
    /// Number of buffers and ring slots, a power of two.
    count: u16,
    /// Bytes per buffer.
    buf_size: u32,
    /// Our tail as last published.
    local_tail: u16,
    /// Per buffer: `KERNEL_OWNED`, or the byte count its completion reported
    /// while the application holds it.
    held: Vec<u32>,
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group", &self.group)
            .field("count", &self.count)
            .field("buf_size", &self.buf_size)
            .field("held", &self.held.iter().filter(|&&h| h != KERNEL_OWNED).count())
            .finish()
    }
}

impl BufRing {
    /// Allocates `count` buffers of `buf_size` bytes, registers them as buffer
    /// group `group` of `ring`, and hands them all to the kernel.
    ///
    /// `count` must be a power of two up to 32768 and `buf_size` non-zero.
    /// An `EINVAL` from the kernel (no `PBUF_RING`) is reported as
    /// [`unsupported`](super::unsupported); `EEXIST` means the group id is taken.
    pub(crate) fn new(ring: &Ring, group: u16, count: u16, buf_size: u32) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 || buf_size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("BufRing: count {count} must be a power of two <= 32768 and buf_size {buf_size} non-zero"),
            ));
        }
        let slab_len = usize::from(count)
            .checked_mul(buf_size as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "BufRing: slab size overflows usize"))?;
        let ring_map = Mmap::anonymous(usize::from(count) * std::mem::size_of::<io_uring_buf>(), "buffer ring")?;
        let slab = Mmap::anonymous(slab_len, "buffer slab")?;
        let tail = ring_map.at::<AtomicU16>(IO_URING_BUF_RING_TAIL_OFFSET)?;

        let mut reg = io_uring_buf_reg {
            ring_addr: ring_map.ptr.as_ptr() as u64,
            ring_entries: u32::from(count),
            bgid: group,
            ..io_uring_buf_reg::default()
        };
        // SAFETY: `reg` is a valid io_uring_buf_reg for the call; the ring memory
        // it names is ours, page-aligned, `count` slots long, and outlives the
        // registration (Drop unregisters before unmapping).
        unsafe { register(ring.as_raw_fd(), IORING_REGISTER_PBUF_RING, (&mut reg as *mut io_uring_buf_reg).cast(), 1) }
            .map_err(|e| {
                let unsupported = e.raw_os_error() == Some(libc::EINVAL);
                error(format!("io_uring_register(PBUF_RING) for buffer group {group}"), e, unsupported)
            })?;

        let mut buf_ring = BufRing {
            ring: ring_map,
            slab,
            tail,
            ring_fd: ring.shared_fd(),
            group,
            count,
            buf_size,
            local_tail: 0,
            held: vec![0; usize::from(count)],
        };
        for id in 0..count {
            buf_ring.recycle(id);
        }
        Ok(buf_ring)
    }

    /// The buffer group id to name in [`Sqe::recv_select`](super::Sqe::recv_select).
    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// Bytes per buffer.
    pub(crate) fn buf_size(&self) -> u32 {
        self.buf_size
    }

    /// Number of buffers.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// Moves the buffer `cqe` reports ([`Cqe::buffer_id`]) to the application
    /// and returns its id; `None` if the completion carries no buffer. Its
    /// bytes are then [`BufRing::buf`] until [`BufRing::recycle`].
    ///
    /// # Safety
    ///
    /// `cqe` must come from the ring this group is registered on and complete
    /// an op that selected from this group (its buffer id means this slab),
    /// and must not have been taken before.
    ///
    /// # Panics
    ///
    /// If the id is out of range or already held: the contract was broken.
    pub(crate) unsafe fn take(&mut self, cqe: &Cqe) -> Option<u16> {
        let id = cqe.buffer_id()?;
        let len = u32::try_from(cqe.res()).unwrap_or(0).min(self.buf_size);
        let slot = self.held.get_mut(usize::from(id)).unwrap_or_else(|| panic!("BufRing: buffer id {id} out of range"));
        assert_eq!(*slot, KERNEL_OWNED, "BufRing: buffer {id} taken twice");
        *slot = len;
        Some(id)
    }

    /// The bytes the completion that handed over buffer `id` reported.
    ///
    /// # Panics
    ///
    /// If the application does not hold `id` (not taken, or recycled).
    pub(crate) fn buf(&self, id: u16) -> &[u8] {
        let len = self.held_len(id);
        // SAFETY: the application holds `id` (checked), so the kernel does not
        // write it until `recycle`, which needs `&mut self` and so cannot run
        // while this borrow lives; `id < count` and `len <= buf_size`, so the
        // range lies inside the slab.
        unsafe {
            std::slice::from_raw_parts(
                self.slab.ptr.as_ptr().add(usize::from(id) * self.buf_size as usize),
                len as usize,
            )
        }
    }

    /// How many bytes the application's buffer `id` holds; panics if it is the kernel's.
    fn held_len(&self, id: u16) -> u32 {
        match self.held.get(usize::from(id)) {
            Some(&len) if len != KERNEL_OWNED => len,
            _ => panic!("BufRing: buffer {id} is not held by the application"),
        }
    }

    /// Gives buffer `id` back to the kernel: writes it into the next ring slot
    /// and publishes the tail (`Release`).
    ///
    /// # Panics
    ///
    /// If the application does not hold `id`.
    pub(crate) fn recycle(&mut self, id: u16) {
        self.held_len(id);
        self.held[usize::from(id)] = KERNEL_OWNED;
        let slot = self.local_tail & (self.count - 1);
        let entry = self.ring.ptr.as_ptr().cast::<io_uring_buf>().wrapping_add(usize::from(slot));
        // SAFETY: `slot < count`, inside the ring mapping. The kernel reads only
        // slots between its head and our tail; at most `count` buffers exist, so
        // this slot is free. Fields are written one by one because slot 0's
        // `resv` is the tail.
        unsafe {
            (&raw mut (*entry).addr).write(self.slab.ptr.as_ptr().add(usize::from(id) * self.buf_size as usize) as u64);
            (&raw mut (*entry).len).write(self.buf_size);
            (&raw mut (*entry).bid).write(id);
        }
        self.local_tail = self.local_tail.wrapping_add(1);
        // SAFETY: `tail` points into `ring` (checked at construction), which lives as long as `self`.
        let tail = unsafe { self.tail.as_ref() };
        // Release: the slot is written before the kernel can see it listed.
        tail.store(self.local_tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let mut reg = io_uring_buf_reg { bgid: self.group, ..io_uring_buf_reg::default() };
        // SAFETY: `reg` is valid for the call; unregistering takes no memory.
        let res = unsafe {
            register(
                self.ring_fd.as_raw_fd(),
                IORING_UNREGISTER_PBUF_RING,
                (&mut reg as *mut io_uring_buf_reg).cast(),
                1,
            )
        };
        if res.is_err() {
            // The kernel may still list our buffers: leak the memory rather than
            // let a later recv write into whatever gets mapped there next.
            self.ring.leak();
            self.slab.leak();
        }
        // Otherwise the mappings unmap after this, once the kernel no longer lists them.
    }
}
