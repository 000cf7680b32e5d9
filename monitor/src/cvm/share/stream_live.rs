//! CP_Stream on the machine: the one [`Streams`] the run loop's hooks reach, the rings'
//! header words read and written by physical address, and the set of cVMs a notify, a close
//! or a teardown woke (the run loop takes it and makes them ready). Decisions are
//! `stream`'s; exporting, importing and revoking a ring's carrying object go through
//! `live::request` like the CP_File hostcalls.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use capmon_abi::Error;

use super::call::Request as ShareRequest;
use super::live;
use super::stream::{Closed, Reply, Request, Rings, StreamSpec, Streams};
use crate::arch::current::cvm::CvmCpu;

static STREAMS: spin::Mutex<Option<Streams>> = spin::Mutex::new(None);
/// cVMs (bit = slot, the first 64) woken since the run loop last looked.
static WAKE: AtomicU64 = AtomicU64::new(0);

/// The registered rings' headers, by physical address (identity-mapped; the monitor may
/// read and write every cVM's memory).
struct Phys;

impl Rings for Phys {
    fn word(&self, ring: u64, index: usize) -> u64 {
        let at = ring + 8 * u64::try_from(index).unwrap_or(0);
        // SAFETY: `ring` is a registered ring: 8-aligned, inside its receiver's memory
        // (`decode` checked it against the receiver's bounds, `Streams::register` its
        // alignment and that it holds the whole header), and registered only while that
        // memory is the receiver's (`teardown` forgets it before the memory is zeroed).
        unsafe { core::ptr::read_volatile(at as *const u64) }
    }
    fn set_word(&mut self, ring: u64, index: usize, value: u64) {
        let at = ring + 8 * u64::try_from(index).unwrap_or(0);
        // SAFETY: as in `word`; the receiver shares the header with the sender by design.
        unsafe { core::ptr::write_volatile(at as *mut u64, value) }
    }
}

/// Sets the streams up once every cVM is loaded (after `live::init`, which set up the
/// carrying objects). `names` are the cVMs in slot order.
pub fn init(specs: &[StreamSpec], names: &[&str]) -> Result<(), alloc::string::String> {
    if specs.is_empty() {
        return Ok(());
    }
    *STREAMS.lock() = Some(Streams::new(specs, names)?);
    Ok(())
}

fn wake(who: Option<usize>) {
    if let Some(i) = who.filter(|&i| i < 64) {
        WAKE.fetch_or(1 << i, Ordering::Relaxed);
        // The woken cVM may run on an idle core at once.
        crate::smp::wake_idle();
    }
}

/// Whether some cVM was woken since the last [`take_wakes`] (one load: the run loop asks
/// every round).
#[inline(always)]
pub fn pending() -> bool {
    WAKE.load(Ordering::Relaxed) != 0
}

/// The woken cVMs that are still blocked in `cp_poll` (bit = slot).
pub fn take_wakes() -> u64 {
    let woken = WAKE.swap(0, Ordering::Relaxed);
    let guard = STREAMS.lock();
    let Some(s) = guard.as_ref() else { return 0 };
    (0..64)
        .filter(|&i| woken & (1 << i) != 0 && s.is_polling(i))
        .fold(0, |m, i| m | (1 << i))
}

/// A cVM that blocked in `cp_poll` runs again: its waiting words are cleared and its result
/// is the ready mask now (0 after a time-out with nothing ready). `None` when it was not
/// polling.
pub fn resume(slot: usize) -> Option<u64> {
    let mut guard = STREAMS.lock();
    let s = guard.as_mut()?;
    let list = s.unpark(slot, &mut Phys)?;
    let handles: Vec<u64> = list
        .iter()
        .map(|&h| u64::try_from(h).unwrap_or(u64::MAX))
        .collect();
    Some(s.ready(slot, &handles, &Phys).unwrap_or(0))
}

/// A cVM ends, faults or restarts, before its memory is zeroed (and before `live::teardown`
/// sweeps it): see `Streams::teardown`.
pub fn teardown(slot: usize) {
    let mut guard = STREAMS.lock();
    let Some(s) = guard.as_mut() else { return };
    for i in s.teardown(slot, &mut Phys) {
        wake(Some(i));
    }
}

/// Carries out a stream hostcall for cVM `slot`.
pub fn request(slot: usize, cpu: &mut CvmCpu, request: Request) -> Result<Reply, Error> {
    let mut guard = STREAMS.lock();
    let s = guard.as_mut().ok_or(Error::NoSys)?;
    match request {
        Request::Register { name, range } => {
            let ring = range.0..range.1;
            let h = s.register(slot, name.as_bytes(), &ring)?;
            live::request(slot, cpu, ShareRequest::Export { name, range })?;
            s.registered(h, ring, &mut Phys);
            Ok(Reply::Value(u64::try_from(h).unwrap_or(u64::MAX)))
        }
        Request::Open { name, slot: at } => {
            let h = s.open(slot, name.as_bytes())?;
            let len = live::request(slot, cpu, ShareRequest::Import { name, slot: at })?;
            // Handles are below MAX_STREAMS (< 2^16), ring lengths below 2^30.
            Ok(Reply::Value(len << 16 | u64::try_from(h).unwrap_or(0xffff)))
        }
        Request::Close { handle } => match s.close(slot, handle, &mut Phys)? {
            Closed::Revoke { wake: w } => {
                let name = s.name(handle).ok_or(Error::Invalid)?;
                let cleared = live::request(slot, cpu, ShareRequest::Revoke { name })?;
                wake(w);
                Ok(Reply::Value(cleared))
            }
            Closed::Ended { wake: w } => {
                wake(w);
                Ok(Reply::Value(0))
            }
        },
        Request::Poll {
            handles,
            count,
            timeout_ns,
        } => {
            let handles = &handles[..count.min(handles.len())];
            let ready = s.ready(slot, handles, &Phys)?;
            if ready != 0 || timeout_ns == 0 {
                return Ok(Reply::Value(ready));
            }
            // The peer may run on another core meanwhile: set the waiting words, a full
            // barrier, then look again. A peer that published before the second look is seen
            // here; one that publishes after it loads the word after its own barrier and
            // notifies (the two barriers order store-then-load on both sides).
            s.park(slot, handles, &mut Phys);
            core::sync::atomic::fence(Ordering::SeqCst);
            let ready = s.ready(slot, handles, &Phys)?;
            if ready != 0 {
                s.unpark(slot, &mut Phys);
                return Ok(Reply::Value(ready));
            }
            Ok(Reply::Block)
        }
        Request::Notify { handle } => match s.notify(slot, handle)? {
            Some(peer) => {
                wake(Some(peer));
                Ok(Reply::Woke)
            }
            None => Ok(Reply::Value(0)),
        },
    }
}
