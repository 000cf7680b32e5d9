//! The sharing hostcalls' arguments (numbers 30..=35, `capmon_abi`): decoded and checked here
//! against the caller's memory, then carried out by the run loop's [`Guest::share`], which owns
//! the sharing state and the capabilities.

use capmon_abi::{Error, Hostcall, NAME_MAX};

use crate::cvm::hostcall::{check_buffer, Guest};

/// An object name as the cVM passed it (at most [`NAME_MAX`] bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    bytes: [u8; NAME_MAX],
    len: usize,
}

impl Name {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    /// A name the monitor holds (a stream's carrying object); `None` when longer than any
    /// name can be.
    pub fn new(bytes: &[u8]) -> Option<Name> {
        let mut out = [0u8; NAME_MAX];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Name {
            bytes: out,
            len: bytes.len(),
        })
    }
}

/// A checked sharing request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Import {
        name: Name,
        slot: u64,
    },
    /// `range` lies inside the caller's memory (checked against `Guest::memory`).
    Export {
        name: Name,
        range: (u64, u64),
    },
    Revoke {
        name: Name,
    },
    Drop {
        slot: u64,
    },
    /// `gate` and `entry` are checked against the caller's code by `calls::Calls::export`;
    /// `stack` lies inside the caller's memory.
    CallExport {
        name: Name,
        gate: u64,
        entry: u64,
        stack: (u64, u64),
    },
    CallImport {
        name: Name,
        slot: u64,
        return_stub: u64,
    },
}

/// Reads a name argument: the buffer must lie in the caller's memory; longer than any name
/// can be is `Invalid`.
pub(crate) fn name(guest: &impl Guest, ptr: u64, len: u64) -> Result<Name, Error> {
    let range = check_buffer(&guest.memory(), ptr, len)?;
    let n = usize::try_from(len)
        .ok()
        .filter(|&n| n > 0 && n <= NAME_MAX)
        .ok_or(Error::Invalid)?;
    let mut bytes = [0u8; NAME_MAX];
    guest.read(range, &mut bytes[..n]);
    Ok(Name { bytes, len: n })
}

/// Decodes a sharing hostcall's arguments.
pub fn decode(guest: &impl Guest, call: Hostcall, args: &[u64; 6]) -> Result<Request, Error> {
    Ok(match call {
        Hostcall::CpImport => Request::Import {
            name: name(guest, args[0], args[1])?,
            slot: args[2],
        },
        Hostcall::CpExport => {
            let name = name(guest, args[0], args[1])?;
            let range = check_buffer(&guest.memory(), args[2], args[3])?;
            Request::Export {
                name,
                range: (range.start, range.end),
            }
        }
        Hostcall::CpRevoke => Request::Revoke {
            name: name(guest, args[0], args[1])?,
        },
        Hostcall::CpDrop => Request::Drop { slot: args[0] },
        Hostcall::CpCallExport => {
            let name = name(guest, args[0], args[1])?;
            let stack = check_buffer(&guest.memory(), args[4], args[5])?;
            Request::CallExport {
                name,
                gate: args[2],
                entry: args[3],
                stack: (stack.start, stack.end),
            }
        }
        Hostcall::CpCallImport => Request::CallImport {
            name: name(guest, args[0], args[1])?,
            slot: args[2],
            return_stub: args[3],
        },
        _ => return Err(Error::NoSys),
    })
}
