//! CP_Stream: byte streams between two cVMs (`capmon_abi` hostcalls 40..=44). The receiver
//! registers a ring of its own memory ([`StreamRx::register`]); the sender opens the stream
//! ([`StreamTx::open`]) and gets a capability to that ring in its capability store, so it
//! writes without knowing where the ring is; [`cp_poll`] blocks on several streams with a
//! time-out until one is ready, without spinning.
//!
//! The ring is a [`STREAM_HEADER`]-byte header of u64 counters and flags, then the data.
//! Only the sender advances `tail` (bytes published) and only the receiver `head` (bytes
//! consumed); each keeps its own copy and never takes the other's word for its own counter,
//! so every byte is delivered once and in order, whatever size and alignment the writes
//! have. The sender publishes data before the tail (a barrier between), the receiver reads
//! the tail before the data; a side that moves its counter while the other is blocked in
//! `cp_poll` (its waiting word is set) calls `stream_notify` once.

use core::sync::atomic::{fence, Ordering};

use capmon_abi::{
    Error, Hostcall, POLL_MAX, STREAM_ENDED, STREAM_HEAD, STREAM_HEADER, STREAM_RX_WAITING,
    STREAM_TAIL, STREAM_TX_WAITING,
};

use crate::share::probe;
use crate::{check, hostcall};

/// Blocks until one of `handles` (at most 16, each a stream of this cVM) is ready or
/// `timeout_ns` has passed. Returns the ready mask: bit i for `handles[i]` (receiver: bytes
/// to read or the stream ended; sender: room, or the receiver gone). 0 after a time-out;
/// a time-out of 0 only looks.
pub fn cp_poll(handles: &[u64], timeout_ns: u64) -> Result<u64, Error> {
    if handles.is_empty() || handles.len() as u64 > POLL_MAX {
        return Err(Error::Invalid);
    }
    // SAFETY: the monitor only reads `handles` (checked against this cVM's memory).
    check(unsafe {
        hostcall(
            Hostcall::CpPoll,
            [
                handles.as_ptr() as u64,
                handles.len() as u64,
                timeout_ns,
                0,
                0,
                0,
            ],
        )
    })
}

fn notify(handle: u64) {
    // SAFETY: takes no pointer. A refusal only means no peer was woken.
    let _ = unsafe { hostcall(Hostcall::StreamNotify, [handle, 0, 0, 0, 0, 0]) };
}

fn close_raw(handle: u64) -> Result<u64, Error> {
    // SAFETY: takes no pointer.
    check(unsafe { hostcall(Hostcall::StreamClose, [handle, 0, 0, 0, 0, 0]) })
}

/// A receiver's ring: any length the manifest's `size` allows, aligned so that its
/// capability has exact bounds (4 KiB alignment covers every ring up to 2 MiB on both
/// formats).
#[repr(C, align(4096))]
pub struct Ring<const N: usize>(pub [u8; N]);

impl<const N: usize> Ring<N> {
    pub const fn new() -> Self {
        Ring([0; N])
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The sending end of a stream.
pub struct StreamTx {
    /// The capability-store slot of the ring's capability.
    slot: u64,
    handle: u64,
    /// Bytes published so far: this side's own count, never read back from the ring.
    tail: u64,
    capacity: u64,
}

impl StreamTx {
    /// Opens stream `name` as its sender, putting the ring's capability in capability-store
    /// slot `slot`. [`Error::Again`] until the receiver has registered its ring.
    pub fn open(name: &str, slot: u64) -> Result<StreamTx, Error> {
        // SAFETY: the monitor only reads `name`.
        let opened = check(unsafe {
            hostcall(
                Hostcall::StreamOpen,
                [name.as_ptr() as u64, name.len() as u64, slot, 0, 0, 0],
            )
        })?;
        let (handle, len) = (opened & 0xffff, opened >> 16);
        let capacity = len.checked_sub(STREAM_HEADER).ok_or(Error::Invalid)?;
        Ok(StreamTx {
            slot,
            handle,
            tail: 0,
            capacity,
        })
    }

    /// [`StreamTx::open`], waiting (1 ms naps, no spinning) up to `timeout_ms` for the
    /// receiver to register.
    pub fn open_wait(name: &str, slot: u64, timeout_ms: u64) -> Result<StreamTx, Error> {
        let mut left = timeout_ms;
        loop {
            match Self::open(name, slot) {
                Err(Error::Again) if left > 0 => {
                    left -= 1;
                    crate::sleep(core::time::Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }

    /// The handle for [`cp_poll`].
    pub fn handle(&self) -> u64 {
        self.handle
    }

    /// A header word, through the ring's capability (`index` < 8: inside the header).
    fn word(&self, index: usize) -> Result<u64, Error> {
        let mut w = [0u8; 8];
        probe::read(self.slot, 8 * index as u64, &mut w);
        Ok(u64::from_le_bytes(w))
    }

    /// Writes as much of `bytes` as fits now (0 when the ring is full), through the ring's
    /// capability; wakes the receiver if it is blocked on this stream. [`Error::Invalid`]
    /// when the ring's head is not one an honest receiver writes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        let head = self.word(STREAM_HEAD)?;
        let used = self.tail.wrapping_sub(head);
        if used > self.capacity {
            return Err(Error::Invalid);
        }
        // n ≤ bytes.len() and first ≤ n: both fit a usize.
        let n = usize::try_from(self.capacity - used)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        if n == 0 {
            return Ok(0);
        }
        let pos = self.tail % self.capacity;
        let first = usize::try_from(self.capacity - pos)
            .unwrap_or(usize::MAX)
            .min(n);
        let (a, b) = bytes[..n].split_at(first);
        // Both pieces lie in the data area: pos + first ≤ capacity, and b is shorter than a
        // full ring (the capability's bounds are what the hardware checks).
        probe::write(self.slot, STREAM_HEADER + pos, a);
        if !b.is_empty() {
            probe::write(self.slot, STREAM_HEADER, b);
        }
        self.publish(n as u64)?;
        Ok(n)
    }

    /// Publishes `n` more bytes: data before tail, tail before looking at the waiting word.
    fn publish(&mut self, n: u64) -> Result<(), Error> {
        self.tail = self.tail.wrapping_add(n);
        fence(Ordering::SeqCst);
        probe::write(self.slot, 8 * STREAM_TAIL as u64, &self.tail.to_le_bytes());
        fence(Ordering::SeqCst);
        if self.word(STREAM_RX_WAITING)? != 0 {
            notify(self.handle);
        }
        Ok(())
    }

    /// Writes all of `bytes`, blocking in [`cp_poll`] while the ring is full (up to
    /// `timeout_ns` each time: [`Error::Again`] if the receiver made no room by then).
    pub fn write_all(&mut self, mut bytes: &[u8], timeout_ns: u64) -> Result<(), Error> {
        while !bytes.is_empty() {
            let n = self.write(bytes)?;
            bytes = &bytes[n..];
            if n == 0 && cp_poll(&[self.handle], timeout_ns)? == 0 {
                return Err(Error::Again);
            }
        }
        Ok(())
    }

    /// Ends the stream: the receiver reads what is left, then end of stream.
    pub fn close(self) -> Result<(), Error> {
        close_raw(self.handle).map(|_| ())
    }
}

/// The receiving end of a stream: a ring of this cVM's own memory.
pub struct StreamRx {
    ring: *mut u8,
    handle: u64,
    /// Bytes consumed so far: this side's own count, never read back from the ring.
    head: u64,
    capacity: u64,
}

impl StreamRx {
    /// Registers `ring` (its whole length, header included, at most the manifest's `size`)
    /// as the ring of stream `name`, of which this cVM must be the receiver. The ring stays
    /// registered until [`StreamRx::close`] or this cVM ends.
    pub fn register(name: &str, ring: &'static mut [u8]) -> Result<StreamRx, Error> {
        let capacity = (ring.len() as u64)
            .checked_sub(STREAM_HEADER)
            .ok_or(Error::Invalid)?;
        // SAFETY: the monitor reads `name`, checks the ring against this cVM's memory and
        // writes only the ring's header.
        let handle = check(unsafe {
            hostcall(
                Hostcall::StreamRegister,
                [
                    name.as_ptr() as u64,
                    name.len() as u64,
                    ring.as_mut_ptr() as u64,
                    ring.len() as u64,
                    0,
                    0,
                ],
            )
        })?;
        Ok(StreamRx {
            ring: ring.as_mut_ptr(),
            handle,
            head: 0,
            capacity,
        })
    }

    /// The handle for [`cp_poll`].
    pub fn handle(&self) -> u64 {
        self.handle
    }

    fn word(&self, index: usize) -> u64 {
        // SAFETY: the ring is this cVM's own (registered, 'static, 8-aligned as the monitor
        // checked); the header's first `STREAM_HEADER` bytes hold the words.
        unsafe { core::ptr::read_volatile(self.ring.cast::<u64>().add(index)) }
    }

    fn set_word(&self, index: usize, value: u64) {
        // SAFETY: as in `word`.
        unsafe { core::ptr::write_volatile(self.ring.cast::<u64>().add(index), value) }
    }

    /// The bytes published and not consumed, as one contiguous slice of the ring (up to its
    /// wrap): `Ok(&[])` at the end of the stream, [`Error::Again`] when none is there yet,
    /// [`Error::Invalid`] for a tail an honest sender does not write. Consume with
    /// [`StreamRx::consume`].
    pub fn peek(&self) -> Result<&[u8], Error> {
        let ended = self.word(STREAM_ENDED);
        fence(Ordering::SeqCst);
        let tail = self.word(STREAM_TAIL);
        fence(Ordering::SeqCst);
        let avail = tail.wrapping_sub(self.head);
        if avail > self.capacity {
            return Err(Error::Invalid);
        }
        if avail == 0 {
            return if ended != 0 {
                Ok(&[])
            } else {
                Err(Error::Again)
            };
        }
        let pos = self.head % self.capacity;
        let n = avail.min(self.capacity - pos);
        // Both below the ring's length, which is a slice length.
        let (at, n) = (
            usize::try_from(STREAM_HEADER + pos).map_err(|_| Error::Invalid)?,
            usize::try_from(n).map_err(|_| Error::Invalid)?,
        );
        // SAFETY: `[pos, pos + n)` of the data area lies inside the ring, and the sender
        // does not write it until `consume` moves the head past it.
        Ok(unsafe { core::slice::from_raw_parts(self.ring.add(at), n) })
    }

    /// Gives `n` bytes (at most what [`StreamRx::peek`] showed) back to the sender, and wakes
    /// it if it is blocked for room.
    pub fn consume(&mut self, n: usize) {
        self.head = self.head.wrapping_add(n as u64);
        fence(Ordering::SeqCst);
        self.set_word(STREAM_HEAD, self.head);
        fence(Ordering::SeqCst);
        if self.word(STREAM_TX_WAITING) != 0 {
            notify(self.handle);
        }
    }

    /// Copies up to `out.len()` bytes out of the stream: `Ok(0)` at its end,
    /// [`Error::Again`] when nothing is there yet.
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let mut done = 0;
        while done < out.len() {
            let chunk = match self.peek() {
                Ok([]) => break,
                Ok(c) => c,
                Err(Error::Again) if done > 0 => break,
                Err(e) => return Err(e),
            };
            let n = chunk.len().min(out.len() - done);
            out[done..done + n].copy_from_slice(&chunk[..n]);
            done += n;
            self.consume(n);
        }
        Ok(done)
    }

    /// [`StreamRx::read`], blocking in [`cp_poll`] up to `timeout_ns` while nothing is there
    /// ([`Error::Again`] after the time-out).
    pub fn read_wait(&mut self, out: &mut [u8], timeout_ns: u64) -> Result<usize, Error> {
        loop {
            match self.read(out) {
                Err(Error::Again) => {
                    if cp_poll(&[self.handle], timeout_ns)? == 0 {
                        return Err(Error::Again);
                    }
                }
                other => return other,
            }
        }
    }

    /// Takes the ring back: the sender's capability is revoked. Returns how many capabilities
    /// the monitor cleared.
    pub fn close(self) -> Result<u64, Error> {
        close_raw(self.handle)
    }
}
