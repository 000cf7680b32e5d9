//! CP_Stream as plain data: the manifest's `streams { … }` node (checked here, format in
//! `cvms/manifests/README.md`), and the streams' state — who registered which ring, who is
//! blocked in `cp_poll` on what, whom a notify or an ending wakes — over a [`Rings`] view of
//! the rings' header words, so that it is host-tested with a fake memory. The machine side
//! (`stream_live`) only moves words and capabilities.
//!
//! A stream is carried by a run-time CP_File object of the same name that the manifest check
//! adds to `files`: exporter = the receiver, read-write importer = the sender. Registering a
//! ring exports it, opening imports it, closing (receiver) revokes it, and the receiver's
//! teardown sweeps it: the sender's capability is an ordinary local import.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use capmon_abi::{
    Error, Hostcall, POLL_MAX, STREAM_ENDED, STREAM_HEAD, STREAM_HEADER, STREAM_RX_WAITING,
    STREAM_SIZE, STREAM_TAIL, STREAM_TX_WAITING,
};

use super::call::{name, Name};
use super::spec::{self as files_spec, FileSpec, Source};
use crate::cvm::hostcall::{check_buffer, Guest};
use crate::cvm::manifest::{
    cells_u64, show, show_bytes, string_value, valid_name, CvmSpec, ManifestError, RawNode,
    MAX_MEMORY_SIZE, NAME_RULE,
};

/// The root node that holds the streams.
pub const NODE: &str = "streams";
/// Every field of a stream's node.
pub const STREAM_FIELDS: &[&str] = &["sender", "receiver", "size"];
/// Most streams in one manifest.
pub const MAX_STREAMS: usize = 32;

/// One stream as the manifest declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    pub name: String,
    pub sender: String,
    pub receiver: String,
    /// The largest ring (header included) the receiver may register, in bytes.
    pub size: u64,
}

impl StreamSpec {
    /// The run-time CP_File object that carries the stream's ring.
    pub fn as_file(&self) -> FileSpec {
        FileSpec {
            name: self.name.clone(),
            size: self.size,
            source: Source::RunTime {
                exporter: self.receiver.clone(),
            },
            read_write: vec![self.sender.clone()],
            read_only: Vec::new(),
        }
    }
}

/// Checks the `streams` node at `at` against the (checked) `cvms` and the `files` objects
/// (whose names a stream must not reuse); returns the valid streams.
pub(crate) fn check_streams(
    nodes: &[RawNode<'_>],
    at: usize,
    cvms: &[CvmSpec],
    files: &[FileSpec],
    errors: &mut Vec<ManifestError>,
) -> Vec<StreamSpec> {
    let mut out: Vec<StreamSpec> = Vec::new();
    for (pname, _) in nodes.get(at).map_or(&[][..], |n| n.props.as_slice()) {
        errors.push(ManifestError::root(
            Some(&format!("{NODE}/{}", show_bytes(pname))),
            "the streams node holds one child node per stream, no properties",
        ));
    }
    let children: Vec<(usize, &RawNode<'_>)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.parent == Some(at))
        .collect();
    if children.len() > MAX_STREAMS {
        errors.push(ManifestError::root(
            None,
            format!(
                "node /streams: at most {MAX_STREAMS} streams, found {}",
                children.len()
            ),
        ));
        return out;
    }
    for (k, &(i, node)) in children.iter().enumerate() {
        let shown = show_bytes(node.name);
        if children.iter().take(k).any(|(_, n)| n.name == node.name) {
            errors.push(ManifestError::root(
                None,
                format!("node /streams/{shown} appears more than once"),
            ));
            continue;
        }
        if let Some(child) = nodes.iter().find(|n| n.parent == Some(i)) {
            errors.push(ManifestError::root(
                None,
                format!(
                    "node /streams/{shown}: unknown child node {}: a stream has only properties",
                    show_bytes(child.name)
                ),
            ));
            continue;
        }
        if let Some(s) = check_stream(node, cvms, files, errors) {
            out.push(s);
        }
    }
    out
}

fn check_stream(
    node: &RawNode<'_>,
    cvms: &[CvmSpec],
    files: &[FileSpec],
    errors: &mut Vec<ManifestError>,
) -> Option<StreamSpec> {
    let shown = show_bytes(node.name);
    let before = errors.len();
    let field = |errors: &mut Vec<ManifestError>, f: &str, why: String| {
        errors.push(ManifestError::root(
            Some(&format!("{NODE}/{shown}/{f}")),
            why,
        ));
    };
    let name = core::str::from_utf8(node.name)
        .ok()
        .filter(|s| valid_name(s));
    match name {
        None => errors.push(ManifestError::root(
            None,
            format!("node /streams/{shown}: a stream's name {NAME_RULE}"),
        )),
        Some(n) if files.iter().any(|f| f.name == n) => errors.push(ManifestError::root(
            None,
            format!(
                "node /streams/{shown}: a shared object in files has the same name (a stream \
                 is carried by an object of its name)"
            ),
        )),
        Some(_) => {}
    }
    for (k, (pname, _)) in node.props.iter().enumerate() {
        let p = show_bytes(pname);
        if node.props.iter().take(k).any(|(n, _)| n == pname) {
            field(errors, &p, "appears more than once".into());
        } else if !STREAM_FIELDS.iter().any(|f| f.as_bytes() == *pname) {
            field(
                errors,
                &p,
                format!("unknown field (a stream has {})", STREAM_FIELDS.join(", ")),
            );
        }
    }
    let cvm = |errors: &mut Vec<ManifestError>, f: &str| -> Option<&CvmSpec> {
        match node.prop(f).map(string_value) {
            None => {
                field(
                    errors,
                    f,
                    format!("required: the name of the stream's {f} cVM"),
                );
                None
            }
            Some(Err(why)) => {
                field(errors, f, why.to_string());
                None
            }
            Some(Ok(who)) => {
                let found = cvms.iter().find(|c| c.name == who);
                if found.is_none() {
                    field(errors, f, format!("no cVM is called \"{}\"", show(who)));
                }
                found
            }
        }
    };
    let sender = cvm(errors, "sender");
    let receiver = cvm(errors, "receiver");
    if let (Some(s), Some(r)) = (sender, receiver) {
        if s.name == r.name {
            field(
                errors,
                "receiver",
                format!("\"{}\" is also the sender: a stream joins two cVMs", r.name),
            );
        }
    }
    let size = match node.prop("size").map(cells_u64) {
        None => {
            field(
                errors,
                "size",
                "required: the largest ring the receiver may register, header included".into(),
            );
            None
        }
        Some(Err(why)) => {
            field(errors, "size", why.to_string());
            None
        }
        Some(Ok(n)) if n <= STREAM_HEADER => {
            field(
                errors,
                "size",
                format!("{n:#x} leaves no room for data after the {STREAM_HEADER}-byte header"),
            );
            None
        }
        Some(Ok(n)) if n > MAX_MEMORY_SIZE => {
            field(
                errors,
                "size",
                format!("must be at most 1 GiB (0x40000000), is {n:#x}"),
            );
            None
        }
        Some(Ok(n)) if !files_spec::exact_everywhere(n) => {
            field(
                errors,
                "size",
                format!("{n:#x} bytes cannot have exact capability bounds on every CHERI format"),
            );
            None
        }
        Some(Ok(n)) => Some(n),
    };
    if let (Some(r), Some(n)) = (receiver, size) {
        if n > r.memory_size {
            field(
                errors,
                "size",
                format!(
                    "{n:#x} is larger than the memory of \"{}\" ({:#x} bytes)",
                    r.name, r.memory_size
                ),
            );
        }
    }
    if errors.len() != before {
        return None;
    }
    Some(StreamSpec {
        name: name?.to_string(),
        sender: sender?.name.clone(),
        receiver: receiver?.name.clone(),
        size: size?,
    })
}

/// A checked stream hostcall (numbers 40..=44).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `range` lies inside the caller's memory.
    Register {
        name: Name,
        range: (u64, u64),
    },
    Open {
        name: Name,
        slot: u64,
    },
    Close {
        handle: u64,
    },
    /// `handles[..count]`, `count` in 1..=POLL_MAX.
    Poll {
        handles: [u64; POLL_HANDLES],
        count: usize,
        timeout_ns: u64,
    },
    Notify {
        handle: u64,
    },
}

/// [`POLL_MAX`] as an array length (16: no truncation).
#[allow(clippy::cast_possible_truncation)]
pub const POLL_HANDLES: usize = POLL_MAX as usize;

/// What a stream hostcall asks of the run loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Return this value.
    Value(u64),
    /// `cp_poll` found nothing ready: block (the result is set when the cVM runs again).
    Block,
    /// `stream_notify` woke the peer: end the caller's turn (result 0).
    Woke,
}

/// Decodes a stream hostcall's arguments against the caller's memory.
pub fn decode(guest: &impl Guest, call: Hostcall, args: &[u64; 6]) -> Result<Request, Error> {
    Ok(match call {
        Hostcall::StreamRegister => {
            let name = name(guest, args[0], args[1])?;
            let range = check_buffer(&guest.memory(), args[2], args[3])?;
            Request::Register {
                name,
                range: (range.start, range.end),
            }
        }
        Hostcall::StreamOpen => Request::Open {
            name: name(guest, args[0], args[1])?,
            slot: args[2],
        },
        Hostcall::StreamClose => Request::Close { handle: args[0] },
        Hostcall::StreamNotify => Request::Notify { handle: args[0] },
        Hostcall::CpPoll => {
            let count = usize::try_from(args[1])
                .ok()
                .filter(|&n| n > 0 && n <= POLL_HANDLES)
                .ok_or(Error::Invalid)?;
            let range = check_buffer(&guest.memory(), args[0], args[1] * 8)?;
            let mut bytes = [0u8; POLL_HANDLES * 8];
            guest.read(range, &mut bytes[..count * 8]);
            let mut handles = [0u64; POLL_HANDLES];
            for (h, b) in handles.iter_mut().zip(bytes.chunks_exact(8)) {
                *h = u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
            }
            Request::Poll {
                handles,
                count,
                timeout_ns: args[2],
            }
        }
        _ => return Err(Error::NoSys),
    })
}

/// Reads and writes the header words of registered rings (the machine: the receiver's memory
/// by physical address; tests: a map). `ring` is the ring's first byte.
pub trait Rings {
    fn word(&self, ring: u64, index: usize) -> u64;
    fn set_word(&mut self, ring: u64, index: usize, value: u64);
}

/// Ready to read: bytes published and not consumed, the stream ended, or a header no honest
/// sender writes (the receiver's read then reports it).
pub fn rx_ready(tail: u64, head: u64, ended: u64, capacity: u64) -> bool {
    tail != head || ended != 0 || tail.wrapping_sub(head) > capacity
}

/// Ready to write: room in the ring (or a header that is not sane, which the sender's write
/// reports).
pub fn tx_ready(tail: u64, head: u64, capacity: u64) -> bool {
    // Full is exactly `capacity` bytes in flight; more is a header no honest receiver writes.
    tail.wrapping_sub(head) != capacity
}

/// The caller's part in a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Sender,
    Receiver,
}

#[derive(Clone, Debug)]
struct Stream {
    spec: StreamSpec,
    sender: usize,
    receiver: usize,
    /// The registered ring (in the receiver's memory).
    ring: Option<Range<u64>>,
}

/// What the machine does after a `stream_close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The receiver closed: revoke the carrying object, then wake these cVMs.
    Revoke { wake: Option<usize> },
    /// The sender closed: wake these cVMs.
    Ended { wake: Option<usize> },
}

/// Every stream's state, and which cVMs are blocked in `cp_poll` on which handles.
#[derive(Clone, Debug)]
pub struct Streams {
    streams: Vec<Stream>,
    polling: Vec<Option<Vec<usize>>>,
}

impl Streams {
    /// `names` are the cVMs in slot order; every stream's cVMs must be among them.
    pub fn new(specs: &[StreamSpec], names: &[&str]) -> Result<Self, String> {
        let slot = |n: &str| {
            names
                .iter()
                .position(|m| *m == n)
                .ok_or_else(|| format!("stream: no cVM is called \"{n}\""))
        };
        let streams = specs
            .iter()
            .map(|s| {
                Ok(Stream {
                    spec: s.clone(),
                    sender: slot(&s.sender)?,
                    receiver: slot(&s.receiver)?,
                    ring: None,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Streams {
            streams,
            polling: vec![None; names.len()],
        })
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// The name of stream `handle` (that of its carrying object).
    pub fn name(&self, handle: u64) -> Option<Name> {
        let s = self.streams.get(usize::try_from(handle).ok()?)?;
        Name::new(s.spec.name.as_bytes())
    }

    fn find(&self, name: &[u8]) -> Result<usize, Error> {
        self.streams
            .iter()
            .position(|s| s.spec.name.as_bytes() == name)
            .ok_or(Error::Invalid)
    }

    /// The caller's role on stream `handle`; `Invalid` for no such handle, `Denied` when it
    /// is neither end.
    pub fn role(&self, cvm: usize, handle: u64) -> Result<Role, Error> {
        let s = usize::try_from(handle)
            .ok()
            .and_then(|h| self.streams.get(h))
            .ok_or(Error::Invalid)?;
        if s.sender == cvm {
            Ok(Role::Sender)
        } else if s.receiver == cvm {
            Ok(Role::Receiver)
        } else {
            Err(Error::Denied)
        }
    }

    /// The receiver registers `ring` (inside its memory, checked by the caller). Returns the
    /// handle; the machine exports the carrying object (which checks the length) and then
    /// calls [`Streams::registered`].
    pub fn register(&self, cvm: usize, name: &[u8], ring: &Range<u64>) -> Result<usize, Error> {
        let h = self.find(name)?;
        let s = &self.streams[h];
        if s.receiver != cvm {
            return Err(Error::Denied);
        }
        let len = ring.end.saturating_sub(ring.start);
        if len <= STREAM_HEADER || len > s.spec.size || !ring.start.is_multiple_of(8) {
            return Err(Error::Invalid);
        }
        if s.ring.is_some() {
            return Err(Error::Again);
        }
        Ok(h)
    }

    /// The export succeeded: the header is reset (sizes, counters, flags) and the ring is live.
    pub fn registered(&mut self, handle: usize, ring: Range<u64>, rings: &mut impl Rings) {
        for w in 0..(STREAM_HEADER / 8) {
            rings.set_word(ring.start, usize::try_from(w).unwrap_or(0), 0);
        }
        rings.set_word(ring.start, STREAM_SIZE, ring.end - ring.start);
        if let Some(s) = self.streams.get_mut(handle) {
            s.ring = Some(ring);
        }
    }

    /// The sender opens stream `name`: its handle, once the receiver has registered a ring.
    pub fn open(&self, cvm: usize, name: &[u8]) -> Result<usize, Error> {
        let h = self.find(name)?;
        let s = &self.streams[h];
        if s.sender != cvm {
            return Err(Error::Denied);
        }
        if s.ring.is_none() {
            return Err(Error::Again);
        }
        Ok(h)
    }

    /// Which of `handles` (the caller's) are ready, as a bit mask.
    pub fn ready(&self, cvm: usize, handles: &[u64], rings: &impl Rings) -> Result<u64, Error> {
        if handles.is_empty() || handles.len() > usize::try_from(POLL_MAX).unwrap_or(16) {
            return Err(Error::Invalid);
        }
        let mut mask = 0;
        for (i, &h) in handles.iter().enumerate() {
            let role = self.role(cvm, h)?;
            let s = &self.streams[usize::try_from(h).unwrap_or(usize::MAX)];
            let ready = match (&s.ring, role) {
                // Nothing registered: a receiver has nothing to read; a sender may
                // `stream_open` (or learn that the receiver is gone).
                (None, Role::Receiver) => false,
                (None, Role::Sender) => true,
                (Some(r), role) => {
                    let capacity = r.end - r.start - STREAM_HEADER;
                    let tail = rings.word(r.start, STREAM_TAIL);
                    let head = rings.word(r.start, STREAM_HEAD);
                    match role {
                        Role::Receiver => {
                            rx_ready(tail, head, rings.word(r.start, STREAM_ENDED), capacity)
                        }
                        Role::Sender => tx_ready(tail, head, capacity),
                    }
                }
            };
            if ready {
                mask |= 1 << i;
            }
        }
        Ok(mask)
    }

    /// The caller blocks on `handles` (already checked by [`Streams::ready`]): each ring's
    /// waiting word for its side is set, so a peer that publishes calls `stream_notify`.
    pub fn park(&mut self, cvm: usize, handles: &[u64], rings: &mut impl Rings) {
        let mut list = Vec::new();
        for &h in handles {
            let Ok(role) = self.role(cvm, h) else {
                continue;
            };
            let h = usize::try_from(h).unwrap_or(usize::MAX);
            if let Some(r) = &self.streams[h].ring {
                let word = match role {
                    Role::Receiver => STREAM_RX_WAITING,
                    Role::Sender => STREAM_TX_WAITING,
                };
                rings.set_word(r.start, word, 1);
            }
            list.push(h);
        }
        if let Some(p) = self.polling.get_mut(cvm) {
            *p = Some(list);
        }
    }

    /// The caller runs again (woken or timed out): its waiting words are cleared. Returns
    /// whether it was polling.
    pub fn unpark(&mut self, cvm: usize, rings: &mut impl Rings) -> Option<Vec<usize>> {
        let list = self.polling.get_mut(cvm)?.take()?;
        for &h in &list {
            let s = &self.streams[h];
            if let Some(r) = &s.ring {
                let word = if s.receiver == cvm {
                    STREAM_RX_WAITING
                } else {
                    STREAM_TX_WAITING
                };
                rings.set_word(r.start, word, 0);
            }
        }
        Some(list)
    }

    pub fn is_polling(&self, cvm: usize) -> bool {
        self.polling.get(cvm).is_some_and(Option::is_some)
    }

    /// The cVM at the other end of `handle`, when it is blocked in `cp_poll` on it.
    fn polling_peer(&self, handle: usize, cvm: usize) -> Option<usize> {
        let s = self.streams.get(handle)?;
        let peer = if s.sender == cvm {
            s.receiver
        } else {
            s.sender
        };
        self.polling
            .get(peer)?
            .as_ref()?
            .contains(&handle)
            .then_some(peer)
    }

    /// `stream_notify`: the peer to wake, if it is polling on the stream.
    pub fn notify(&self, cvm: usize, handle: u64) -> Result<Option<usize>, Error> {
        self.role(cvm, handle)?;
        Ok(self.polling_peer(usize::try_from(handle).unwrap_or(usize::MAX), cvm))
    }

    /// `stream_close`: the receiver gives its ring up (revoked by the machine), the sender
    /// ends the stream (the header says so).
    pub fn close(
        &mut self,
        cvm: usize,
        handle: u64,
        rings: &mut impl Rings,
    ) -> Result<Closed, Error> {
        let role = self.role(cvm, handle)?;
        let h = usize::try_from(handle).unwrap_or(usize::MAX);
        let wake = self.polling_peer(h, cvm);
        let s = &mut self.streams[h];
        match role {
            Role::Receiver => {
                s.ring.take().ok_or(Error::Again)?;
                Ok(Closed::Revoke { wake })
            }
            Role::Sender => {
                let r = s.ring.as_ref().ok_or(Error::Again)?;
                rings.set_word(r.start, STREAM_ENDED, 1);
                Ok(Closed::Ended { wake })
            }
        }
    }

    /// Cvm `cvm` ends, faults or restarts (before its memory is zeroed): its rings are gone
    /// (the sweep takes the senders' capabilities), streams it sends on are marked ended in
    /// their receivers' headers, it stops polling. Returns the cVMs to wake.
    pub fn teardown(&mut self, cvm: usize, rings: &mut impl Rings) -> Vec<usize> {
        let mut wake = Vec::new();
        if let Some(p) = self.polling.get_mut(cvm) {
            *p = None;
        }
        for h in 0..self.streams.len() {
            let s = &self.streams[h];
            let peer = if s.receiver == cvm {
                Some(s.sender)
            } else if s.sender == cvm {
                Some(s.receiver)
            } else {
                None
            };
            let Some(peer) = peer else { continue };
            if self.polling[peer].as_ref().is_some_and(|l| l.contains(&h)) {
                wake.push(peer);
            }
            let s = &mut self.streams[h];
            if s.receiver == cvm {
                s.ring = None;
            } else if let Some(r) = &s.ring {
                if rings.word(r.start, STREAM_ENDED) == 0 {
                    rings.set_word(r.start, STREAM_ENDED, 2);
                }
            }
        }
        wake
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::cvm::manifest::{parse_manifest, tests::dtc};
    use std::collections::BTreeMap;

    static COUNTER: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

    #[derive(Default)]
    struct Mem(BTreeMap<(u64, usize), u64>);
    impl Rings for Mem {
        fn word(&self, ring: u64, index: usize) -> u64 {
            self.0.get(&(ring, index)).copied().unwrap_or(0)
        }
        fn set_word(&mut self, ring: u64, index: usize, value: u64) {
            self.0.insert((ring, index), value);
        }
    }

    fn manifest(streams: &str) -> Result<crate::cvm::manifest::Manifest, std::string::String> {
        let src = format!(
            r#"/dts-v1/; / {{ compatible = "capmon,manifest-v1";
            cvm@0 {{ name = "a"; image = "x"; memory-size = <0x100000>; }};
            cvm@1 {{ name = "b"; image = "x"; memory-size = <0x100000>; }};
            files {{ f {{ size = <64>; read-write = "a"; }}; }};
            {streams} }};"#
        );
        let dir =
            std::env::temp_dir().join(std::format!("capmon-stream-spec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let n = COUNTER.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let path = dir.join(std::format!("m{n}.dts"));
        std::fs::write(&path, src).expect("write dts");
        parse_manifest(&dtc(&path, &[])).map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn a_stream_becomes_a_run_time_object_of_its_receiver() {
        let m = manifest(r#"streams { s { sender = "a"; receiver = "b"; size = <0x10000>; }; };"#)
            .expect("valid");
        assert_eq!(
            m.streams,
            [StreamSpec {
                name: "s".into(),
                sender: "a".into(),
                receiver: "b".into(),
                size: 0x10000
            }]
        );
        let f = m.files.iter().find(|f| f.name == "s").expect("carrier");
        assert_eq!(
            f.source,
            Source::RunTime {
                exporter: "b".into()
            }
        );
        assert_eq!(f.read_write, ["a"]);
        assert!(f.read_only.is_empty());
    }

    #[test]
    fn bad_streams_are_refused_with_the_field_named() {
        for (streams, want) in [
            (
                r#"streams { s { sender = "a"; receiver = "a"; size = <0x1000>; }; };"#,
                "streams/s/receiver",
            ),
            (
                r#"streams { s { sender = "z"; receiver = "b"; size = <0x1000>; }; };"#,
                r#"streams/s/sender": no cVM is called "z""#,
            ),
            (
                r#"streams { s { sender = "a"; receiver = "b"; }; };"#,
                "streams/s/size\": required",
            ),
            (
                r#"streams { s { sender = "a"; receiver = "b"; size = <64>; }; };"#,
                "no room for data",
            ),
            (
                r#"streams { s { sender = "a"; receiver = "b"; size = <0x200000>; }; };"#,
                "larger than the memory",
            ),
            (
                r#"streams { s { sender = "a"; receiver = "b"; size = <0x10001>; }; };"#,
                "exact capability bounds",
            ),
            (
                r#"streams { f { sender = "a"; receiver = "b"; size = <0x1000>; }; };"#,
                "same name",
            ),
            (
                r#"streams { s { sender = "a"; receiver = "b"; size = <0x1000>; colour = "x"; }; };"#,
                "unknown field",
            ),
            (r#"streams { x = "y"; };"#, "no properties"),
            (
                r#"streams { s { sender = "a"; receiver = "b"; size = <0x1000>; t { }; }; };"#,
                "unknown child node",
            ),
        ] {
            let err = manifest(streams).expect_err(streams);
            assert!(err.contains(want), "{streams}: {err}");
        }
    }

    fn streams() -> Streams {
        let spec = StreamSpec {
            name: "s".into(),
            sender: "a".into(),
            receiver: "b".into(),
            size: 0x1000,
        };
        Streams::new(&[spec], &["a", "b", "c"]).expect("resolves")
    }

    const RING: Range<u64> = 0x8000..0x8100; // capacity 0xc0

    #[test]
    fn roles_registration_and_opening() {
        let mut s = streams();
        let mut mem = Mem::default();
        assert_eq!(s.open(0, b"s"), Err(Error::Again), "not registered yet");
        assert_eq!(s.register(0, b"s", &RING), Err(Error::Denied), "the sender");
        assert_eq!(s.register(2, b"s", &RING), Err(Error::Denied));
        assert_eq!(s.register(1, b"t", &RING), Err(Error::Invalid));
        assert_eq!(s.register(1, b"s", &(0x8000..0x8040)), Err(Error::Invalid));
        assert_eq!(s.register(1, b"s", &(0x8000..0x9001)), Err(Error::Invalid));
        assert_eq!(
            s.register(1, b"s", &(0x8004..0x8104)),
            Err(Error::Invalid),
            "unaligned header"
        );
        mem.set_word(RING.start, STREAM_TAIL, 99);
        let h = s.register(1, b"s", &RING).expect("receiver");
        s.registered(h, RING, &mut mem);
        assert_eq!(mem.word(RING.start, STREAM_TAIL), 0, "header reset");
        assert_eq!(mem.word(RING.start, STREAM_SIZE), 0x100);
        assert_eq!(
            s.register(1, b"s", &RING),
            Err(Error::Again),
            "registered once"
        );
        assert_eq!(s.open(1, b"s"), Err(Error::Denied), "the receiver");
        assert_eq!(s.open(0, b"s"), Ok(h));
        assert_eq!(s.role(2, 0), Err(Error::Denied));
        assert_eq!(s.role(0, 7), Err(Error::Invalid));
    }

    #[test]
    fn readiness_follows_the_counters() {
        assert!(!rx_ready(5, 5, 0, 10));
        assert!(rx_ready(6, 5, 0, 10));
        assert!(rx_ready(5, 5, 1, 10), "ended");
        assert!(
            rx_ready(3, 5, 0, 10),
            "a tail behind the head is reported, not waited on"
        );
        assert!(tx_ready(14, 5, 10));
        assert!(!tx_ready(15, 5, 10), "full");
        assert!(tx_ready(3, u64::MAX - 2, 10), "wrapped counters");
        assert!(!tx_ready(7, u64::MAX - 2, 10), "wrapped and full");
        assert!(
            tx_ready(4, 5, 10),
            "a head past the tail is reported, not waited on"
        );
        assert!(!rx_ready(u64::MAX, u64::MAX, 0, 10));

        let mut s = streams();
        let mut mem = Mem::default();
        assert_eq!(s.ready(0, &[0], &mem), Ok(1), "a sender may open");
        assert_eq!(s.ready(1, &[0], &mem), Ok(0));
        assert_eq!(s.ready(1, &[], &mem), Err(Error::Invalid));
        assert_eq!(s.ready(1, &[0; 17], &mem), Err(Error::Invalid));
        assert_eq!(s.ready(2, &[0], &mem), Err(Error::Denied));
        let h = s.register(1, b"s", &RING).expect("ok");
        s.registered(h, RING, &mut mem);
        assert_eq!(s.ready(1, &[0], &mem), Ok(0), "empty");
        assert_eq!(s.ready(0, &[0], &mem), Ok(1), "room");
        mem.set_word(RING.start, STREAM_TAIL, 0xc0);
        assert_eq!(s.ready(1, &[0, 0], &mem), Ok(0b11));
        assert_eq!(s.ready(0, &[0], &mem), Ok(0), "full");
    }

    #[test]
    fn parked_cvms_are_woken_by_notify_close_and_teardown_only() {
        let mut s = streams();
        let mut mem = Mem::default();
        let h = s.register(1, b"s", &RING).expect("ok");
        s.registered(h, RING, &mut mem);
        assert_eq!(s.notify(0, 0), Ok(None), "the receiver is not polling");
        s.park(1, &[0], &mut mem);
        assert!(s.is_polling(1));
        assert_eq!(mem.word(RING.start, STREAM_RX_WAITING), 1);
        assert_eq!(s.notify(0, 0), Ok(Some(1)));
        assert_eq!(s.notify(2, 0), Err(Error::Denied));
        assert_eq!(s.unpark(1, &mut mem), Some(vec![0]));
        assert_eq!(mem.word(RING.start, STREAM_RX_WAITING), 0);
        assert_eq!(s.unpark(1, &mut mem), None);

        // The sender closes: the header says so and the polling receiver is woken.
        s.park(1, &[0], &mut mem);
        assert_eq!(s.close(0, 0, &mut mem), Ok(Closed::Ended { wake: Some(1) }));
        assert_eq!(mem.word(RING.start, STREAM_ENDED), 1);
        assert_eq!(s.ready(1, &[0], &mem), Ok(1));
        s.unpark(1, &mut mem);

        // The sender blocks for room, then the receiver ends: it is woken, the ring is gone.
        s.park(0, &[0], &mut mem);
        assert_eq!(mem.word(RING.start, STREAM_TX_WAITING), 1);
        assert_eq!(s.teardown(1, &mut mem), vec![0]);
        assert_eq!(s.open(0, b"s"), Err(Error::Again));
        assert_eq!(s.ready(0, &[0], &mem), Ok(1));
        s.unpark(0, &mut mem);

        // A sender that ends marks its stream ended (2) unless it had closed it.
        let mut s = streams();
        let mut mem = Mem::default();
        let h = s.register(1, b"s", &RING).expect("ok");
        s.registered(h, RING, &mut mem);
        s.park(1, &[0], &mut mem);
        assert_eq!(s.teardown(0, &mut mem), vec![1]);
        assert_eq!(mem.word(RING.start, STREAM_ENDED), 2);
        assert_eq!(s.teardown(2, &mut mem), Vec::<usize>::new(), "not an end");

        // The receiver closes: revoke, and it can register again.
        assert_eq!(s.close(1, 0, &mut mem), Ok(Closed::Revoke { wake: None }));
        assert_eq!(s.close(1, 0, &mut mem), Err(Error::Again));
        assert!(s.register(1, b"s", &RING).is_ok());
    }

    #[test]
    fn stream_hostcalls_check_their_arguments_against_the_callers_memory() {
        use crate::cvm::fakes::BASE;
        use crate::cvm::hostcall::tests::fake;
        let mut f = fake();
        let len = f.bytes.len() as u64;
        f.bytes[..3].copy_from_slice(b"raw");
        for (i, h) in [2u64, 0, 1].iter().enumerate() {
            f.bytes[0x40 + 8 * i..0x48 + 8 * i].copy_from_slice(&h.to_le_bytes());
        }
        let d = |call, args: [u64; 6]| decode(&f, call, &args);
        let Ok(Request::Register { name, range }) =
            d(Hostcall::StreamRegister, [BASE, 3, BASE + 0x80, 0x80, 0, 0])
        else {
            panic!("register")
        };
        assert_eq!(
            (name.as_bytes(), range),
            (&b"raw"[..], (BASE + 0x80, BASE + 0x100))
        );
        assert_eq!(
            d(
                Hostcall::StreamRegister,
                [BASE, 3, BASE + len - 8, 0x80, 0, 0]
            ),
            Err(Error::Fault),
            "a ring past its memory"
        );
        assert_eq!(
            d(Hostcall::StreamOpen, [BASE + len - 1, 3, 0, 0, 0, 0]),
            Err(Error::Fault)
        );
        let Ok(Request::Poll {
            handles,
            count: 3,
            timeout_ns: 9,
        }) = d(Hostcall::CpPoll, [BASE + 0x40, 3, 9, 0, 0, 0])
        else {
            panic!("poll")
        };
        assert_eq!(handles[..3], [2, 0, 1]);
        assert_eq!(
            d(Hostcall::CpPoll, [BASE + 0x40, 0, 9, 0, 0, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            d(Hostcall::CpPoll, [BASE + 0x40, 17, 9, 0, 0, 0]),
            Err(Error::Invalid)
        );
        assert_eq!(
            d(Hostcall::CpPoll, [BASE + len - 8, 2, 9, 0, 0, 0]),
            Err(Error::Fault)
        );
        assert_eq!(
            d(Hostcall::StreamNotify, [4, 0, 0, 0, 0, 0]),
            Ok(Request::Notify { handle: 4 })
        );
        assert_eq!(d(Hostcall::Yield, [0; 6]), Err(Error::NoSys));
    }
}
