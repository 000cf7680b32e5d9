//! Nested cVMs, the parent's side: a cVM whose manifest node holds `cvm@N` children manages
//! them by handle (0, 1, ... in manifest order) and, with `serve-children`, serves their
//! hostcalls: [`wait`] for a [`ChildEvent`], then [`reply`] (the value becomes the child's
//! result), [`forward`] (the monitor serves it as the child's own call), or [`reply_wait`] to
//! answer and wait for the next in one crossing.
//!
//! A child's memory lies inside its parent's, so the parent reads a child's buffers directly
//! ([`child_bytes`]); the monitor has already checked every buffer of its own hostcalls
//! against the child's memory before the parent sees the request.

use capmon_abi::{ChildEvent, ChildEventKind, ChildInfo, Error, Hostcall};

use crate::{check, hostcall};

/// A child, as its parent names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child(pub u64);

/// What [`ChildEvent::kind`] says.
pub fn kind(event: &ChildEvent) -> Option<ChildEventKind> {
    match event.kind {
        1 => Some(ChildEventKind::Hostcall),
        2 => Some(ChildEventKind::Exited),
        3 => Some(ChildEventKind::Faulted),
        _ => None,
    }
}

/// The child's name from an event.
pub fn name(event: &ChildEvent) -> &str {
    text(&event.name)
}

/// A fault's cause from an event.
pub fn detail(event: &ChildEvent) -> &str {
    text(&event.detail)
}

fn text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("?")
}

/// State, region and name of a child; [`Error::Invalid`] for a handle the caller does not have.
pub fn info(child: Child) -> Result<ChildInfo, Error> {
    let mut out = ChildInfo {
        state: 0,
        code: 0,
        region_base: 0,
        region_size: 0,
        children: 0,
        name: [0; capmon_abi::NAME_MAX],
    };
    let size = core::mem::size_of::<ChildInfo>() as u64;
    // SAFETY: the monitor writes at most `size` bytes at `out`, a local of exactly that size.
    check(unsafe {
        hostcall(
            Hostcall::ChildInfo,
            [child.0, (&raw mut out) as u64, size, 0, 0, 0],
        )
    })?;
    Ok(out)
}

/// Starts a child that is not running, from a fresh image in zeroed memory.
pub fn start(child: Child) -> Result<(), Error> {
    // SAFETY: no pointer.
    check(unsafe { hostcall(Hostcall::ChildStart, [child.0, 0, 0, 0, 0, 0]) }).map(|_| ())
}

/// Stops a child and its children; their memory is zeroed when this returns.
pub fn stop(child: Child) -> Result<(), Error> {
    // SAFETY: no pointer.
    check(unsafe { hostcall(Hostcall::ChildStop, [child.0, 0, 0, 0, 0, 0]) }).map(|_| ())
}

/// Waits up to `timeout_ns` (`u64::MAX`: for ever) for the next event of any child.
pub fn wait(timeout_ns: u64) -> Result<Option<ChildEvent>, Error> {
    let mut event = ChildEvent::zeroed();
    Ok(wait_into(timeout_ns, &mut event)?.then_some(event))
}

/// [`wait`] into a record the caller keeps (a serving loop reuses one): true when an event
/// arrived, false on time-out.
pub fn wait_into(timeout_ns: u64, event: &mut ChildEvent) -> Result<bool, Error> {
    let size = core::mem::size_of::<ChildEvent>() as u64;
    // SAFETY: the monitor writes at most `size` bytes at `event`, exclusively borrowed and of
    // exactly that size.
    let got = check(unsafe {
        hostcall(
            Hostcall::ChildWait,
            [core::ptr::from_mut(event) as u64, size, timeout_ns, 0, 0, 0],
        )
    })?;
    Ok(got == 1)
}

/// Completes the child's waiting hostcall with `value` as its result.
pub fn reply(child: Child, value: u64) -> Result<(), Error> {
    // SAFETY: no pointer.
    check(unsafe { hostcall(Hostcall::ChildReply, [child.0, value, 0, 0, 0, 0]) }).map(|_| ())
}

/// Lets the monitor serve the child's waiting hostcall as the child's own.
pub fn forward(child: Child) -> Result<(), Error> {
    // SAFETY: no pointer.
    check(unsafe { hostcall(Hostcall::ChildForward, [child.0, 0, 0, 0, 0, 0]) }).map(|_| ())
}

/// [`reply`] and then [`wait`], in one hostcall.
pub fn reply_wait(child: Child, value: u64, timeout_ns: u64) -> Result<Option<ChildEvent>, Error> {
    let mut event = ChildEvent::zeroed();
    Ok(reply_wait_into(child, value, timeout_ns, &mut event)?.then_some(event))
}

/// [`reply_wait`] into a record the caller keeps: true when an event arrived.
pub fn reply_wait_into(
    child: Child,
    value: u64,
    timeout_ns: u64,
    event: &mut ChildEvent,
) -> Result<bool, Error> {
    let size = core::mem::size_of::<ChildEvent>() as u64;
    // SAFETY: as in `wait_into`.
    let got = check(unsafe {
        hostcall(
            Hostcall::ChildReplyWait,
            [
                child.0,
                value,
                core::ptr::from_mut(event) as u64,
                size,
                timeout_ns,
                0,
            ],
        )
    })?;
    Ok(got == 1)
}

/// The bytes `[ptr, ptr + len)` of the child an event came from, when they lie inside its
/// memory (`memory_base`/`memory_size`), else `None`. The parent's own capability covers its
/// children's regions, so it reads them in place.
pub fn child_bytes(event: &ChildEvent, ptr: u64, len: u64) -> Option<&'static [u8]> {
    let end = ptr.checked_add(len)?;
    let inside =
        ptr >= event.memory_base && end <= event.memory_base.checked_add(event.memory_size)?;
    if !inside || cfg!(not(target_os = "none")) {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    // SAFETY: [ptr, ptr + len) lies in the child's memory, which is inside this cVM's own
    // region (the monitor carves children from their parent) and is only read here; the child
    // is stopped in its hostcall while its parent serves it.
    Some(unsafe { core::slice::from_raw_parts(ptr as *const u8, len) })
}
