//! Nested cVMs at run time: the hostcalls a child makes to its parent, and the parent's calls
//! that manage its children (`child_*`, hostcalls 20..=26). Pure logic over a [`Members`] view
//! of the run loop's cVMs, so it is host-tested with a fake.
//!
//! **Handles.** A parent names its children 0, 1, ... in manifest order. A handle is an index
//! into the *caller's* own list of children, resolved by the monitor on every call, so it
//! cannot be forged: the same number from any other cVM names nothing, or that cVM's own child.
//!
//! **Serving.** A child of a parent with `serve-children` sends every hostcall except `exit`
//! and its own `child_*` calls to the parent first: the child waits while the parent gets a
//! [`ChildEvent`] from `child_wait`, and the parent replies (`child_reply`, the value becomes
//! the child's result), passes the call on (`child_forward`: the monitor serves it as the
//! child's own), or replies with an error. Before the parent sees a request, the monitor checks
//! every buffer argument of its own hostcalls against the child's memory (the parent may trust
//! them: they cannot name the parent's own memory), and a forwarded call is checked again
//! against the child's bounds when the monitor serves it, always.
//!
//! **Endings.** A child's exit or fault becomes an event for its parent. A cVM that ends
//! (exit, fault, stop) takes its descendants down first, deepest first, each zeroed; a parent
//! that restarts starts them again after itself.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use capmon_abi::{child_state, ChildEvent, ChildEventKind, ChildInfo, Error, Hostcall, NAME_MAX};

use super::hostcall;

/// Most events a parent's queue holds; a child whose event finds the queue full waits (its
/// hostcall stays pending) or, for an ending, the oldest hostcall event is kept and the ending
/// replaces nothing: endings are never dropped (a parent has at most 64 children).
const MAX_QUEUED: usize = 64;

/// What the run loop does with a hostcall from cVM `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The monitor serves it (the common case, and every call of a cVM without a serving parent).
    Monitor,
    /// It goes to the parent ([`Family::post`]) or it is a `child_*` call ([`Family::call`]).
    Family,
}

/// What the run loop's cVMs must offer nesting. `at` is a position in the manifest's order.
pub trait Members {
    /// The data bounds the cVM may pass buffers in (its data capability's).
    fn memory(&self, at: usize) -> Range<u64>;
    fn region(&self, at: usize) -> Range<u64>;
    /// A [`child_state`] value for everything but [`child_state::WAITING_FOR_PARENT`].
    fn state(&self, at: usize) -> u64;
    fn exit_code(&self, at: usize) -> i64;
    /// The last fault report's cause, for the parent's event.
    fn fault_detail(&self, at: usize) -> String;
    /// Copies `bytes` to `addr` in cVM `at`'s memory (already checked against `memory(at)`).
    fn write(&mut self, at: usize, addr: u64, bytes: &[u8]);
    /// Writes a hostcall's event record to `addr` in cVM `at`'s memory (checked like `write`).
    /// The run loop overrides it with word stores (the served-hostcall hot path); this
    /// default, which the host tests use, writes the same bytes.
    fn write_record(&mut self, at: usize, addr: u64, record: &HostcallRecord<'_>) {
        self.write(at, addr, &record.to_bytes());
    }
    /// Sets cVM `at`'s hostcall result register.
    fn set_result(&mut self, at: usize, value: u64);
    /// Makes cVM `at` runnable and, since it is what the caller is waiting for, runs it next.
    fn resume(&mut self, at: usize);
    /// Makes cVM `at` not runnable until [`Members::resume`], or for at most `timeout_ns`.
    fn block(&mut self, at: usize, timeout_ns: Option<u64>);
    /// (Re)starts cVM `at` from a fresh image in zeroed memory.
    fn start(&mut self, at: usize) -> Result<(), String>;
    /// Ends cVM `at` now, with `why` in its report line, and zeroes its memory.
    fn stop(&mut self, at: usize, why: &str);
    /// Serves hostcall `number` as cVM `at`'s own, as if it had come straight to the monitor.
    fn serve(&mut self, at: usize, number: u64, args: &[u64; 6]);
}

/// Words of a cVM's name in the event record.
pub const NAME_WORDS: usize = NAME_MAX / 8;
/// Words before the name in the event record: handle, kind, number, args, code, memory.
pub const HEADER_WORDS: usize = 12;
/// Words of the (fault) detail after the name: zero in a hostcall's record.
pub const DETAIL_WORDS: usize = 12;
/// Byte offsets of the name and the detail in the record.
pub const NAME_OFFSET: u64 = (HEADER_WORDS * 8) as u64;
pub const DETAIL_OFFSET: u64 = ((HEADER_WORDS + NAME_WORDS) * 8) as u64;
const _: () = assert!(
    core::mem::offset_of!(ChildEvent, name) == HEADER_WORDS * 8
        && core::mem::offset_of!(ChildEvent, detail) == (HEADER_WORDS + NAME_WORDS) * 8
        && (HEADER_WORDS + NAME_WORDS + DETAIL_WORDS) * 8 == core::mem::size_of::<ChildEvent>()
        && NAME_MAX.is_multiple_of(8)
);

/// The event record of a child's hostcall, as the words of a [`ChildEvent`] (which is
/// `repr(C)`, little-endian, integers only): the header words, the name, then
/// [`DETAIL_WORDS`] zero words. Handed to [`Members::write_record`] instead of a built
/// `ChildEvent`, because building one and copying it cost ~500 instructions a served hostcall
/// in `memcpy`/`memset` (a 224-byte struct built, moved and copied, at ~1.6 bytes an
/// instruction); stored word by word it is ~30 stores.
#[derive(Debug)]
pub struct HostcallRecord<'a> {
    pub header: [u64; HEADER_WORDS],
    pub name: &'a [u64; NAME_WORDS],
}

impl HostcallRecord<'_> {
    /// The record's bytes, exactly as `write_record` stores them.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.header
            .iter()
            .chain(self.name.iter())
            .chain([0u64; DETAIL_WORDS].iter())
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
}

/// A parent blocked in `child_wait`: where its record goes.
#[derive(Debug, Clone, Copy)]
struct Waiter {
    buf: u64,
}

/// The family tree and what is in flight between parents and children.
pub struct Family {
    parent: Vec<Option<usize>>,
    /// Per cVM: its children in handle order (fixed by the manifest, so computed once: the
    /// served-hostcall path resolves handles without allocating).
    children: Vec<Vec<usize>>,
    /// Per cVM: its handle in its parent's list.
    handle: Vec<u64>,
    /// Per cVM: its name as the event record holds it (NUL-padded), made once.
    names: Vec<[u8; NAME_MAX]>,
    /// The same, as the record's words (the served-hostcall path stores words).
    name_words: Vec<[u64; NAME_WORDS]>,
    serves: Vec<bool>,
    /// Per child: the number of its hostcall waiting for the parent (queued or being served).
    pending: Vec<Option<u64>>,
    /// Per child: that hostcall's arguments (kept apart from `pending`: an `Option` of both
    /// was copied with a `memcpy` call on every served hostcall).
    pending_args: Vec<[u64; 6]>,
    /// Per parent: it is blocked in `child_wait`.
    waiting: Vec<Option<Waiter>>,
    /// Per parent: events not yet taken (handle, kind, extra).
    events: Vec<VecDeque<ChildEvent>>,
}

impl Family {
    /// `parents[i]`: cVM `i`'s parent (parents come first); `serves[i]`: `serve-children`;
    /// `names[i]`: its name.
    pub fn new(parents: &[Option<usize>], serves: &[bool], names: &[&str]) -> Self {
        let n = parents.len();
        let children: Vec<Vec<usize>> = (0..n)
            .map(|p| (0..n).filter(|&c| parents[c] == Some(p)).collect())
            .collect();
        let mut handle = alloc::vec![u64::MAX; n];
        for list in &children {
            for (h, &c) in list.iter().enumerate() {
                handle[c] = u64::try_from(h).unwrap_or(u64::MAX);
            }
        }
        let names = (0..n)
            .map(|i| {
                let mut padded = [0; NAME_MAX];
                copy_padded(&mut padded, names.get(i).map_or(&[][..], |s| s.as_bytes()));
                padded
            })
            .collect::<Vec<[u8; NAME_MAX]>>();
        let name_words = names
            .iter()
            .map(|padded| {
                let mut words = [0u64; NAME_WORDS];
                for (w, chunk) in words.iter_mut().zip(padded.chunks_exact(8)) {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(chunk);
                    *w = u64::from_le_bytes(bytes);
                }
                words
            })
            .collect();
        Family {
            parent: parents.to_vec(),
            children,
            handle,
            names,
            name_words,
            serves: (0..n)
                .map(|i| serves.get(i).copied().unwrap_or(false))
                .collect(),
            pending: alloc::vec![None; n],
            pending_args: alloc::vec![[0; 6]; n],
            waiting: alloc::vec![None; n],
            events: (0..n).map(|_| VecDeque::new()).collect(),
        }
    }

    pub fn parent(&self, at: usize) -> Option<usize> {
        self.parent.get(at).copied().flatten()
    }

    /// `at`'s children in handle order.
    pub fn children(&self, at: usize) -> &[usize] {
        self.children.get(at).map_or(&[], Vec::as_slice)
    }

    /// Every descendant of `at`, deepest first (so each is stopped before its parent).
    pub fn descendants(&self, at: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for &c in self.children(at) {
            out.extend(self.descendants(c));
            out.push(c);
        }
        out
    }

    /// The child behind `handle` for `caller`.
    fn child(&self, caller: usize, handle: u64) -> Result<usize, Error> {
        let children = self.children(caller);
        if children.is_empty() {
            return Err(Error::Denied);
        }
        usize::try_from(handle)
            .ok()
            .and_then(|h| children.get(h).copied())
            .ok_or(Error::Invalid)
    }

    fn handle_of(&self, child: usize) -> u64 {
        self.handle.get(child).copied().unwrap_or(u64::MAX)
    }

    /// Where hostcall `number` of cVM `at` goes. The run loop's hot path makes the same
    /// decision with [`goes_to_family`] and a flag of its own per cVM, without the family.
    #[inline]
    pub fn route(&self, at: usize, number: u64) -> Route {
        let parent_serves = self.parent(at).is_some_and(|p| self.serves[p]);
        if goes_to_family(parent_serves, number) {
            Route::Family
        } else {
            Route::Monitor
        }
    }

    /// Handles a hostcall [`Family::route`] sent here.
    pub fn hostcall(&mut self, m: &mut impl Members, at: usize, number: u64, args: &[u64; 6]) {
        if is_child_call(number) {
            self.call(m, at, number, args);
        } else {
            self.post(m, at, number, args);
        }
    }

    /// A child's hostcall for its parent: checked, then queued for (or handed to) the parent;
    /// the child waits for the reply.
    fn post(&mut self, m: &mut impl Members, child: usize, number: u64, args: &[u64; 6]) {
        let Some(parent) = self.parent(child) else {
            m.serve(child, number, args);
            return;
        };
        let memory = m.memory(child);
        if super::cap_args::buffer_ranges(number, args)
            .any(|(ptr, len)| hostcall::check_buffer(&memory, ptr, len).is_err())
        {
            m.set_result(child, Error::Fault.to_result());
            return;
        }
        if self.events[parent].len() >= MAX_QUEUED {
            m.set_result(child, Error::Again.to_result());
            return;
        }
        self.pending[child] = Some(number);
        if let Some(saved) = self.pending_args.get_mut(child) {
            // Word by word: a whole-array assignment becomes a `memcpy` call here, and a loop
            // costs ~60 instructions on RISC-V.
            let [a0, a1, a2, a3, a4, a5] = *args;
            saved[0] = a0;
            saved[1] = a1;
            saved[2] = a2;
            saved[3] = a3;
            saved[4] = a4;
            saved[5] = a5;
        }
        m.block(child, None);
        // The common case: the parent is blocked in `child_wait` (a serving parent's loop).
        // Its record is written word by word, with no `ChildEvent` built.
        if let Some(waiter) = self.waiting[parent].take() {
            let record = HostcallRecord {
                header: [
                    self.handle_of(child),
                    ChildEventKind::Hostcall as u64,
                    number,
                    args[0],
                    args[1],
                    args[2],
                    args[3],
                    args[4],
                    args[5],
                    0,
                    memory.start,
                    memory.end.saturating_sub(memory.start),
                ],
                name: self.name_words.get(child).unwrap_or(&[0; NAME_WORDS]),
            };
            m.write_record(parent, waiter.buf, &record);
            m.set_result(parent, 1);
            m.resume(parent);
            return;
        }
        let mut event = self.event(m, child, ChildEventKind::Hostcall);
        event.number = number;
        event.args = *args;
        self.events[parent].push_back(event);
    }

    /// A child ended (exit or fault: `kind`): its own children go first, then its parent hears
    /// of it. The run loop calls this after the cVM's own report line.
    pub fn ended(&mut self, m: &mut impl Members, at: usize, kind: ChildEventKind) {
        self.stop_descendants(m, at, "stopped with its parent");
        self.pending[at] = None;
        self.waiting[at] = None;
        self.events[at].clear();
        if let Some(parent) = self.parent(at) {
            let event = self.event(m, at, kind);
            // An ending is never dropped: it makes room by dropping nothing else either (the
            // queue holds one event per child at most in practice; the bound is a backstop).
            self.deliver(m, parent, &event);
        }
    }

    /// A cVM restarted by its fault policy: its children were zeroed with its memory, so they
    /// are stopped (their reports say so) and started again after it.
    pub fn restarted(&mut self, m: &mut impl Members, at: usize) {
        self.pending[at] = None;
        self.waiting[at] = None;
        self.events[at].clear();
        let descendants = self.descendants(at);
        for &d in &descendants {
            self.pending[d] = None;
            self.waiting[d] = None;
            self.events[d].clear();
            m.stop(d, "stopped: its parent restarted");
        }
        // Parents before children: the reverse of deepest-first.
        for &d in descendants.iter().rev() {
            if let Err(e) = m.start(d) {
                m.stop(d, &alloc::format!("not restarted: {e}"));
            }
        }
    }

    fn stop_descendants(&mut self, m: &mut impl Members, at: usize, why: &str) {
        for d in self.descendants(at) {
            if matches!(m.state(d), child_state::RUNNING) || self.pending[d].is_some() {
                m.stop(d, why);
            }
            self.pending[d] = None;
            self.waiting[d] = None;
            self.events[d].clear();
        }
    }

    #[inline]
    fn event(&self, m: &impl Members, child: usize, kind: ChildEventKind) -> ChildEvent {
        let memory = m.memory(child);
        let mut event = ChildEvent {
            handle: self.handle_of(child),
            kind: kind as u64,
            number: 0,
            args: [0; 6],
            code: 0,
            memory_base: memory.start,
            memory_size: memory.end.saturating_sub(memory.start),
            name: self.names.get(child).copied().unwrap_or([0; NAME_MAX]),
            detail: [0; 96],
        };
        match kind {
            ChildEventKind::Exited => event.code = m.exit_code(child),
            ChildEventKind::Faulted => {
                copy_padded(&mut event.detail, m.fault_detail(child).as_bytes())
            }
            ChildEventKind::Hostcall => {}
        }
        event
    }

    /// Gives `event` to a parent blocked in `child_wait` (one copy, straight into its
    /// record), or queues it.
    fn deliver(&mut self, m: &mut impl Members, parent: usize, event: &ChildEvent) {
        match self.waiting[parent].take() {
            Some(waiter) => {
                m.write(parent, waiter.buf, as_bytes(event));
                m.set_result(parent, 1);
                m.resume(parent);
            }
            None => self.events[parent].push_back(*event),
        }
    }

    /// One of the `child_*` calls, from `caller`.
    fn call(&mut self, m: &mut impl Members, caller: usize, number: u64, args: &[u64; 6]) {
        let result = match Hostcall::from_number(number) {
            Some(Hostcall::ChildInfo) => self.info(m, caller, args[0], args[1], args[2]),
            Some(Hostcall::ChildStart) => self.start(m, caller, args[0]),
            Some(Hostcall::ChildStop) => self.stop(m, caller, args[0]),
            Some(Hostcall::ChildReply) => self.reply(m, caller, args[0], args[1]),
            Some(Hostcall::ChildForward) => self.forward(m, caller, args[0]),
            Some(Hostcall::ChildWait) => return self.wait(m, caller, args[0], args[1], args[2]),
            Some(Hostcall::ChildReplyWait) => match self.reply(m, caller, args[0], args[1]) {
                Ok(_) => return self.wait(m, caller, args[2], args[3], args[4]),
                Err(e) => Err(e),
            },
            _ => Err(Error::NoSys),
        };
        m.set_result(caller, result.unwrap_or_else(Error::to_result));
    }

    fn info(
        &self,
        m: &mut impl Members,
        caller: usize,
        handle: u64,
        buf: u64,
        len: u64,
    ) -> Result<u64, Error> {
        let child = self.child(caller, handle)?;
        let size = core::mem::size_of::<ChildInfo>() as u64;
        if len < size {
            return Err(Error::Invalid);
        }
        let range = hostcall::check_buffer(&m.memory(caller), buf, size)?;
        let region = m.region(child);
        let info = ChildInfo {
            state: self.state(m, child),
            code: m.exit_code(child),
            region_base: region.start,
            region_size: region.end.saturating_sub(region.start),
            children: self.children(child).len() as u64,
            name: self.names.get(child).copied().unwrap_or([0; NAME_MAX]),
        };
        m.write(caller, range.start, as_bytes(&info));
        Ok(size)
    }

    fn state(&self, m: &impl Members, child: usize) -> u64 {
        if self.pending[child].is_some() {
            child_state::WAITING_FOR_PARENT
        } else {
            m.state(child)
        }
    }

    fn start(&mut self, m: &mut impl Members, caller: usize, handle: u64) -> Result<u64, Error> {
        let child = self.child(caller, handle)?;
        if matches!(
            self.state(m, child),
            child_state::RUNNING | child_state::WAITING_FOR_PARENT
        ) {
            return Err(Error::Again);
        }
        self.drop_events_of(caller, child);
        m.start(child).map_err(|_| Error::Io)?;
        // Its children start with it, parents first.
        for d in self.descendants(child).into_iter().rev() {
            if let Err(e) = m.start(d) {
                m.stop(d, &alloc::format!("not started: {e}"));
            }
        }
        Ok(0)
    }

    fn stop(&mut self, m: &mut impl Members, caller: usize, handle: u64) -> Result<u64, Error> {
        let child = self.child(caller, handle)?;
        self.stop_descendants(m, child, "stopped with its parent");
        if matches!(
            self.state(m, child),
            child_state::RUNNING | child_state::WAITING_FOR_PARENT
        ) {
            m.stop(child, "stopped by its parent");
        }
        self.pending[child] = None;
        self.drop_events_of(caller, child);
        Ok(0)
    }

    /// Forgets queued events of `child` (it was stopped or is starting afresh).
    fn drop_events_of(&mut self, parent: usize, child: usize) {
        let handle = self.handle_of(child);
        self.events[parent].retain(|e| e.handle != handle);
    }

    fn reply(
        &mut self,
        m: &mut impl Members,
        caller: usize,
        handle: u64,
        value: u64,
    ) -> Result<u64, Error> {
        let child = self.child(caller, handle)?;
        if self.pending[child].take().is_none() {
            return Err(Error::Invalid);
        }
        m.set_result(child, value);
        m.resume(child);
        Ok(0)
    }

    fn forward(&mut self, m: &mut impl Members, caller: usize, handle: u64) -> Result<u64, Error> {
        let child = self.child(caller, handle)?;
        let number = self.pending[child].take().ok_or(Error::Invalid)?;
        let args = self.pending_args[child];
        m.resume(child);
        // Served as the child's own: every buffer is checked against the child's bounds again.
        m.serve(child, number, &args);
        Ok(0)
    }

    fn wait(&mut self, m: &mut impl Members, caller: usize, buf: u64, len: u64, timeout_ns: u64) {
        if self.children(caller).is_empty() {
            m.set_result(caller, Error::Denied.to_result());
            return;
        }
        let size = core::mem::size_of::<ChildEvent>() as u64;
        if len < size {
            m.set_result(caller, Error::Invalid.to_result());
            return;
        }
        let Ok(range) = hostcall::check_buffer(&m.memory(caller), buf, size) else {
            m.set_result(caller, Error::Fault.to_result());
            return;
        };
        if let Some(event) = self.events[caller].pop_front() {
            m.write(caller, range.start, as_bytes(&event));
            m.set_result(caller, 1);
        } else if timeout_ns == 0 {
            m.set_result(caller, 0);
        } else {
            self.waiting[caller] = Some(Waiter { buf: range.start });
            // The result for a time-out; a delivered event overwrites it.
            m.set_result(caller, 0);
            m.block(caller, (timeout_ns != u64::MAX).then_some(timeout_ns));
        }
    }

    /// A parent's `child_wait` timed out (the run loop noticed it runnable again without an
    /// event): it is no longer waiting.
    pub fn wait_timed_out(&mut self, at: usize) {
        if let Some(w) = self.waiting.get_mut(at) {
            *w = None;
        }
    }

    /// Whether cVM `at` is blocked in `child_wait`.
    pub fn is_waiting(&self, at: usize) -> bool {
        self.waiting.get(at).is_some_and(Option::is_some)
    }
}

/// Whether hostcall `number` of a cVM goes to nesting rather than straight to the monitor:
/// every `child_*` call, and every call but `exit` of a child whose parent serves it.
#[inline]
pub fn goes_to_family(parent_serves: bool, number: u64) -> bool {
    is_child_call(number) || (parent_serves && number != Hostcall::Exit as u64)
}

/// The `child_*` hostcalls, which the monitor serves for the caller itself.
#[inline]
pub fn is_child_call(number: u64) -> bool {
    (Hostcall::ChildInfo as u64..=Hostcall::ChildReplyWait as u64).contains(&number)
}

fn copy_padded(out: &mut [u8], text: &[u8]) {
    let n = text.len().min(out.len());
    out[..n].copy_from_slice(&text[..n]);
    out[n..].fill(0);
}

/// The bytes of a plain-integer ABI record.
fn as_bytes<T: Copy>(record: &T) -> &[u8] {
    // SAFETY: only called with `ChildEvent` and `ChildInfo`, `repr(C)` records of integers and
    // byte arrays with no padding (every field is 8-byte sized or a byte array whose length is
    // a multiple of 8), so every byte is initialised; the slice lives as long as `record`.
    unsafe {
        core::slice::from_raw_parts((record as *const T).cast::<u8>(), core::mem::size_of::<T>())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::cvm::fakes::FakeMembers as Fake;
    use std::vec;

    impl Fake {
        fn event(&self, at: usize) -> ChildEvent {
            let (_, _, bytes) = self
                .writes
                .iter()
                .rev()
                .find(|(w, _, _)| *w == at)
                .expect("an event was written");
            assert_eq!(bytes.len(), core::mem::size_of::<ChildEvent>());
            // SAFETY: the bytes were copied from a `ChildEvent` by `as_bytes`; read unaligned.
            unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<ChildEvent>()) }
        }
    }

    /// outer (serves) ⊃ middle (serves) ⊃ inner; outer ⊃ quiet (not serving: outer serves it,
    /// it has no children); other stands alone.
    fn family() -> (Family, Fake) {
        let parents = [None, Some(0), Some(1), Some(0), None];
        let serves = [true, true, false, false, false];
        let memory = [
            0x10000..0x20000,
            0x14000..0x18000,
            0x15000..0x16000,
            0x18000..0x19000,
            0x30000..0x31000,
        ];
        let names = ["outer", "middle", "inner", "quiet", "other"];
        (
            Family::new(&parents, &serves, &names),
            Fake::new(&names, &memory),
        )
    }

    const WRITE: u64 = Hostcall::ConsoleWrite as u64;
    const WAIT: u64 = Hostcall::ChildWait as u64;
    const EVENT_SIZE: u64 = core::mem::size_of::<ChildEvent>() as u64;

    #[test]
    fn the_word_record_is_byte_for_byte_the_event_record() {
        let (f, m) = family();
        let name = f.name_words[2];
        let words = HostcallRecord {
            header: [0, 1, WRITE, 10, 11, 12, 13, 14, 15, 0, 0x15000, 0x1000],
            name: &name,
        };
        let mut event = f.event(&m, 2, ChildEventKind::Hostcall);
        event.number = WRITE;
        event.args = [10, 11, 12, 13, 14, 15];
        assert_eq!(words.to_bytes(), as_bytes(&event));
        assert_eq!(&name[0].to_le_bytes()[..6], b"inner\0");
    }

    #[test]
    fn routes_go_to_a_serving_parent_except_exit_and_child_calls_go_to_nesting() {
        let (f, _) = family();
        assert_eq!(
            f.route(2, WRITE),
            Route::Family,
            "inner's parent middle serves"
        );
        assert_eq!(
            f.route(1, WRITE),
            Route::Family,
            "middle's parent outer serves"
        );
        assert_eq!(f.route(2, Hostcall::Exit as u64), Route::Monitor);
        assert_eq!(
            f.route(0, WRITE),
            Route::Monitor,
            "top-level cVMs talk to the monitor"
        );
        assert_eq!(f.route(4, WRITE), Route::Monitor);
        assert_eq!(
            f.route(4, WAIT),
            Route::Family,
            "child_* calls are nesting's to answer"
        );
    }

    #[test]
    fn a_served_hostcall_reaches_the_waiting_parent_and_its_reply_resumes_the_child() {
        let (mut f, mut m) = family();
        // middle waits for its children first.
        f.hostcall(&mut m, 1, WAIT, &[0x14100, EVENT_SIZE, u64::MAX, 0, 0, 0]);
        assert!(m.blocked[1] && f.is_waiting(1));
        // inner writes 5 bytes from its own memory.
        f.hostcall(&mut m, 2, WRITE, &[0x15010, 5, 0, 0, 0, 0]);
        assert!(m.blocked[2], "the child waits for its parent");
        assert_eq!((m.results[1], m.resumed.clone()), (Some(1), vec![1]));
        let e = m.event(1);
        assert_eq!(
            (e.handle, e.kind, e.number, e.args[0], e.args[1]),
            (0, ChildEventKind::Hostcall as u64, WRITE, 0x15010, 5)
        );
        assert_eq!((e.memory_base, e.memory_size), (0x15000, 0x1000));
        assert_eq!(&e.name[..6], b"inner\0");
        // The info call shows it waiting for its parent.
        f.hostcall(
            &mut m,
            1,
            Hostcall::ChildInfo as u64,
            &[0, 0x14200, 0x100, 0, 0, 0],
        );
        assert_eq!(m.results[1], Some(core::mem::size_of::<ChildInfo>() as u64));
        assert_eq!(
            m.writes.last().unwrap().2[..8],
            child_state::WAITING_FOR_PARENT.to_le_bytes()
        );
        // middle replies 5 and waits again: inner resumes with 5, middle blocks.
        f.hostcall(
            &mut m,
            1,
            Hostcall::ChildReplyWait as u64,
            &[0, 5, 0x14100, EVENT_SIZE, u64::MAX, 0],
        );
        assert_eq!(m.results[2], Some(5));
        assert!(!m.blocked[2] && m.blocked[1]);
        // A second reply finds nothing waiting.
        f.hostcall(&mut m, 1, Hostcall::ChildReply as u64, &[0, 5, 0, 0, 0, 0]);
        assert_eq!(m.results[1], Some(Error::Invalid.to_result()));
    }

    #[test]
    fn events_queue_until_the_parent_asks_and_forwarding_serves_them_as_the_childs() {
        let (mut f, mut m) = family();
        f.hostcall(&mut m, 3, WRITE, &[0x18000, 3, 0, 0, 0, 0]);
        assert!(
            m.blocked[3] && m.writes.is_empty(),
            "queued: outer is not waiting"
        );
        f.hostcall(&mut m, 0, WAIT, &[0x10000, EVENT_SIZE, 0, 0, 0, 0]);
        assert_eq!(m.results[0], Some(1));
        assert_eq!(m.event(0).handle, 1, "quiet is outer's second child");
        f.hostcall(
            &mut m,
            0,
            Hostcall::ChildForward as u64,
            &[1, 0, 0, 0, 0, 0],
        );
        assert_eq!(m.served, vec![(3, WRITE)]);
        assert_eq!(m.results[3], Some(0x5e));
        assert!(!m.blocked[3]);
        // Nothing more: a zero time-out returns 0 at once.
        f.hostcall(&mut m, 0, WAIT, &[0x10000, EVENT_SIZE, 0, 0, 0, 0]);
        assert_eq!(m.results[0], Some(0));
        assert!(!m.blocked[0]);
    }

    #[test]
    fn a_child_cannot_hand_its_parent_a_buffer_outside_its_own_memory() {
        let (mut f, mut m) = family();
        f.hostcall(&mut m, 1, WAIT, &[0x14100, EVENT_SIZE, u64::MAX, 0, 0, 0]);
        // The parent's own memory, a sibling's, wrap-around: refused before the parent sees it.
        for (ptr, len) in [(0x14000, 16), (0x15ff0, 0x20), (u64::MAX - 4, 16)] {
            f.hostcall(&mut m, 2, WRITE, &[ptr, len, 0, 0, 0, 0]);
            assert_eq!(
                m.results[2],
                Some(Error::Fault.to_result()),
                "{ptr:#x}+{len:#x}"
            );
            assert!(!m.blocked[2]);
        }
        assert!(
            m.writes.is_empty() && f.is_waiting(1),
            "the parent saw none of them"
        );
        f.hostcall(
            &mut m,
            2,
            Hostcall::DiskRead as u64,
            &[0, 0x15e00, 2, 0, 0, 0],
        );
        assert_eq!(
            m.results[2],
            Some(Error::Fault.to_result()),
            "two sectors from 0x15e00 leave inner"
        );
    }

    #[test]
    fn handles_name_only_the_callers_own_children() {
        let (mut f, mut m) = family();
        for (caller, handle, expect) in [
            (2, 0, Error::Denied),  // inner has no children: no handle is its
            (4, 0, Error::Denied),  // nor has other
            (1, 1, Error::Invalid), // middle has one child
            (0, 2, Error::Invalid),
            (0, u64::MAX, Error::Invalid),
        ] {
            f.hostcall(
                &mut m,
                caller,
                Hostcall::ChildStop as u64,
                &[handle, 0, 0, 0, 0, 0],
            );
            assert_eq!(
                m.results[caller],
                Some(expect.to_result()),
                "cvm {caller} handle {handle}"
            );
        }
        assert!(m.log.is_empty(), "nothing was stopped");
        f.hostcall(&mut m, 2, WAIT, &[0x15000, EVENT_SIZE, 0, 0, 0, 0]);
        assert_eq!(m.results[2], Some(Error::Denied.to_result()));
        f.hostcall(&mut m, 0, WAIT, &[0x40000, EVENT_SIZE, 0, 0, 0, 0]);
        assert_eq!(
            m.results[0],
            Some(Error::Fault.to_result()),
            "the record must land in the caller's memory"
        );
        f.hostcall(&mut m, 0, WAIT, &[0x10000, EVENT_SIZE - 1, 0, 0, 0, 0]);
        assert_eq!(m.results[0], Some(Error::Invalid.to_result()));
    }

    #[test]
    fn an_ending_takes_the_descendants_down_and_tells_the_parent() {
        let (mut f, mut m) = family();
        f.hostcall(&mut m, 0, WAIT, &[0x10000, EVENT_SIZE, u64::MAX, 0, 0, 0]);
        m.state[1] = child_state::FAULTED;
        f.ended(&mut m, 1, ChildEventKind::Faulted);
        assert_eq!(m.log, ["stop inner: stopped with its parent"]);
        let e = m.event(0);
        assert_eq!((e.handle, e.kind), (0, ChildEventKind::Faulted as u64));
        assert!(e.detail.starts_with(b"bounds fault in middle\0"));
        // Exits carry the code.
        f.hostcall(&mut m, 0, WAIT, &[0x10000, EVENT_SIZE, u64::MAX, 0, 0, 0]);
        f.ended(&mut m, 3, ChildEventKind::Exited);
        assert_eq!(
            (m.event(0).kind, m.event(0).code),
            (ChildEventKind::Exited as u64, 7)
        );
    }

    #[test]
    fn stop_and_start_act_on_the_subtree_parents_first_on_start() {
        let (mut f, mut m) = family();
        f.hostcall(&mut m, 0, Hostcall::ChildStop as u64, &[0, 0, 0, 0, 0, 0]);
        assert_eq!(m.results[0], Some(0));
        assert_eq!(
            m.log,
            [
                "stop inner: stopped with its parent",
                "stop middle: stopped by its parent"
            ]
        );
        m.log.clear();
        f.hostcall(&mut m, 0, Hostcall::ChildStart as u64, &[0, 0, 0, 0, 0, 0]);
        assert_eq!(m.log, ["start middle", "start inner"]);
        f.hostcall(&mut m, 0, Hostcall::ChildStart as u64, &[0, 0, 0, 0, 0, 0]);
        assert_eq!(
            m.results[0],
            Some(Error::Again.to_result()),
            "it runs already"
        );
        m.log.clear();
        f.restarted(&mut m, 0);
        assert_eq!(
            m.log,
            [
                "stop inner: stopped: its parent restarted",
                "stop middle: stopped: its parent restarted",
                "stop quiet: stopped: its parent restarted",
                "start quiet",
                "start middle",
                "start inner"
            ]
        );
        assert_eq!(f.descendants(0), [2, 1, 3]);
    }
}
