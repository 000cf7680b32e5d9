//! Who may hold what: the sharing state as plain data. Resolves the manifest's shared objects
//! against the planned cVM regions and the share pool, and decides every import, export,
//! revocation and teardown — returning what the arch code must do (derive a capability into
//! a slot, sweep a range) without touching a capability itself. Host-tested.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use capmon_abi::{Error, CAP_SLOT_BYTES, CAP_STORE_SLOTS};

use super::spec::{FileSpec, Source};
use crate::cap::{CheriRiscv, Format, Morello, MorelloPerms, RiscvPerms};

/// Whose authority a granted capability is derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// The exporting cVM's own data capability (its index in the run loop).
    Cvm(usize),
    /// The share pool's capability (monitor-allocated buffers).
    Pool,
}

/// A capability the arch code must derive and store: `[base, base + length)` of `authority`,
/// with Load, plus Store when `write`, nothing else; into the 16-byte slot at `slot_address`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub authority: Authority,
    pub base: u64,
    pub length: u64,
    pub write: bool,
    pub slot_address: u64,
}

/// What a revocation must sweep: every capability overlapping `range` in every cVM but
/// `spare` (the exporter, whose own capabilities cover the range by right).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    pub range: Range<u64>,
    pub spare: Option<usize>,
}

/// The permissions the sharing capabilities get in a format.
pub trait SharePerms: Format {
    /// A read-only import: Load. Not Global (so it can only be stored through a capability
    /// with StoreLocalCap: the importer's capability store), no Execute, no LoadCap/StoreCap.
    const IMPORT_RO: Self::Perms;
    /// A read-write import: Load and Store, otherwise as [`Self::IMPORT_RO`].
    const IMPORT_RW: Self::Perms;
    /// The capability-store capability: Load, Store, LoadCap, StoreCap, StoreLocalCap (the only
    /// capability with StoreLocalCap a cVM ever holds), not Global, no Execute.
    const STORE: Self::Perms;
    /// CP_Call's code capabilities (an entry's gate, a caller's return stub), before sealing:
    /// Load and Execute over the cVM's code, and the permission to be branched to as half of a
    /// sealed pair (Morello BranchSealedPair, CHERI-RISC-V PermitCInvoke). Not Global.
    const CALL_CODE: Self::Perms;
    /// A call descriptor, before sealing: Load and LoadCap (the gate loads the callee's DDC
    /// and stack from it; Morello: MutableLoad, so they keep Store), the pair permission, no
    /// Store. Not Global.
    const CALL_DESCRIPTOR: Self::Perms;
    /// A callee's per-importer call stack: Load and Store, no capability stores. Not Global.
    const CALL_STACK: Self::Perms;
    /// The data half of a caller's return pair: its capability-store capability
    /// ([`Self::STORE`]) with the pair permission.
    const CALL_RETURN_DATA: Self::Perms;
}

impl SharePerms for Morello {
    const IMPORT_RO: MorelloPerms = MorelloPerms::LOAD;
    const IMPORT_RW: MorelloPerms = MorelloPerms::LOAD.union(MorelloPerms::STORE);
    // MutableLoad: without it a capability loaded from the store would lose Store.
    const STORE: MorelloPerms = MorelloPerms::LOAD
        .union(MorelloPerms::STORE)
        .union(MorelloPerms::LOAD_CAP)
        .union(MorelloPerms::STORE_CAP)
        .union(MorelloPerms::STORE_LOCAL_CAP)
        .union(MorelloPerms::MUTABLE_LOAD);
    const CALL_CODE: MorelloPerms = MorelloPerms::LOAD
        .union(MorelloPerms::EXECUTE)
        .union(MorelloPerms::BRANCH_SEALED_PAIR);
    const CALL_DESCRIPTOR: MorelloPerms = MorelloPerms::LOAD
        .union(MorelloPerms::LOAD_CAP)
        .union(MorelloPerms::MUTABLE_LOAD)
        .union(MorelloPerms::BRANCH_SEALED_PAIR);
    const CALL_STACK: MorelloPerms = MorelloPerms::LOAD.union(MorelloPerms::STORE);
    const CALL_RETURN_DATA: MorelloPerms = Self::STORE.union(MorelloPerms::BRANCH_SEALED_PAIR);
}

impl SharePerms for CheriRiscv {
    const IMPORT_RO: RiscvPerms = RiscvPerms::LOAD;
    const IMPORT_RW: RiscvPerms = RiscvPerms::LOAD.union(RiscvPerms::STORE);
    const STORE: RiscvPerms = RiscvPerms::LOAD
        .union(RiscvPerms::STORE)
        .union(RiscvPerms::LOAD_CAP)
        .union(RiscvPerms::STORE_CAP)
        .union(RiscvPerms::STORE_LOCAL_CAP);
    const CALL_CODE: RiscvPerms = RiscvPerms::LOAD
        .union(RiscvPerms::EXECUTE)
        .union(RiscvPerms::CINVOKE);
    const CALL_DESCRIPTOR: RiscvPerms = RiscvPerms::LOAD
        .union(RiscvPerms::LOAD_CAP)
        .union(RiscvPerms::CINVOKE);
    const CALL_STACK: RiscvPerms = RiscvPerms::LOAD.union(RiscvPerms::STORE);
    const CALL_RETURN_DATA: RiscvPerms = Self::STORE.union(RiscvPerms::CINVOKE);
}

/// Where things go in the share pool: one capability store per cVM, then each buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolLayout {
    /// Bytes the pool needs (before rounding to a representable region).
    pub size: u64,
    /// Offset of cVM `i`'s capability store.
    pub stores: Vec<u64>,
    /// Offset of each buffer object, in `buffers` order.
    pub buffers: Vec<u64>,
}

/// Bytes of one capability store.
pub const STORE_BYTES: u64 = CAP_STORE_SLOTS * CAP_SLOT_BYTES;
/// Each capability store starts a page of its own, and PMP ranges are whole pages: CHERI
/// QEMU (riscv64cheri) drops the tag of a capability the monitor stores into a page that a PMP
/// entry covers only in part (seen when capability stores shared a page), so no entry may.
/// The capabilities stay exact; only the second line of defence is page-granular.
pub const PAGE: u64 = 4096;

/// Lays out the pool for `cvms` capability stores and buffers of `buffer_sizes` bytes: each
/// at an offset aligned so that its exact bounds are representable in `F` whenever the pool's
/// base is aligned to the largest alignment used (which [`Format::plan_region`] of the total
/// guarantees: it is at least as large).
pub fn layout_pool<F: Format>(cvms: usize, buffer_sizes: &[u64]) -> Option<PoolLayout> {
    let mut at = 0u64;
    let mut stores = Vec::with_capacity(cvms);
    for _ in 0..cvms {
        stores.push(at);
        at = at.checked_add(PAGE)?;
    }
    let mut buffers = Vec::with_capacity(buffer_sizes.len());
    for &size in buffer_sizes {
        let align = (!F::alignment_mask(size)).checked_add(1)?.max(16);
        at = at.checked_add(align - 1)? & !(align - 1);
        buffers.push(at);
        at = at.checked_add(size)?;
    }
    Some(PoolLayout {
        size: at.max(PAGE),
        stores,
        buffers,
    })
}

/// The largest base alignment [`layout_pool`] relied on, so the pool's base must be a multiple.
pub fn pool_alignment<F: Format>(buffer_sizes: &[u64]) -> u64 {
    buffer_sizes
        .iter()
        .map(|&s| (!F::alignment_mask(s)).saturating_add(1))
        .fold(16, u64::max)
}

/// The highest `size` bytes aligned to `align` (a power of two) inside one of `free`, as
/// `plan::plan_regions` places cVMs: the share pool goes right below them.
pub fn place_pool(free: &[Range<u64>], size: u64, align: u64) -> Option<Range<u64>> {
    let mask = align.checked_sub(1)?;
    free.iter().rev().find_map(|r| {
        let base = r.end.checked_sub(size)? & !mask;
        (base >= r.start).then_some(base..base + size)
    })
}

/// How a cVM may import an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    ReadOnly,
    ReadWrite,
}

struct Object {
    spec: FileSpec,
    exporter: Option<usize>,
    /// Where its bytes are now; `None` while a run-time object is not exported, or while the
    /// exporter of a static one is not running.
    range: Option<Range<u64>>,
    /// A static object's range (buffers and `Region`s), restored when its exporter restarts.
    home: Option<Range<u64>>,
    importers: Vec<(usize, Access)>,
}

/// One cVM as sharing sees it.
pub struct Member {
    pub name: String,
    /// What it may export from: its data capability's bounds.
    pub memory: Range<u64>,
    /// Its capability store (absolute; [`STORE_BYTES`] long).
    pub store: u64,
    /// Objects it imported since it (re)started and that were not revoked since: the ranges
    /// its PMP window must open (RISC-V). Not a list of where its capabilities are: the cVM
    /// may copy them between slots, which is why revocation sweeps instead of looking here.
    imported: Vec<usize>,
}

/// The whole sharing state.
pub struct Share {
    objects: Vec<Object>,
    members: Vec<Member>,
    /// Whether the capability format bounds `[base, base + length)` exactly.
    exact: fn(u64, u64) -> bool,
}

/// Why the manifest's objects cannot be placed on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError(pub String);

impl Share {
    /// Resolves `files` against the cVMs (`(name, region, data bounds)` in run-loop order),
    /// capability stores at `stores[i]` and buffers at `buffers[j]` (absolute, in the order
    /// the buffer objects appear in `files`).
    pub fn new(
        files: &[FileSpec],
        cvms: &[(String, Range<u64>, Range<u64>)],
        stores: &[u64],
        buffers: &[u64],
        exact: fn(u64, u64) -> bool,
    ) -> Result<Share, ResolveError> {
        let index = |name: &str| cvms.iter().position(|(n, _, _)| n == name);
        let mut objects = Vec::with_capacity(files.len());
        let mut next_buffer = buffers.iter();
        for spec in files {
            let exporter = match spec.exporter() {
                None => None,
                Some(name) => Some(index(name).ok_or_else(|| {
                    ResolveError(alloc::format!(
                        "shared object \"{}\": exporter \"{name}\" is not running",
                        spec.name
                    ))
                })?),
            };
            let range = match &spec.source {
                Source::Buffer => {
                    let base = *next_buffer.next().ok_or_else(|| {
                        ResolveError(alloc::format!(
                            "shared object \"{}\": no buffer placed for it",
                            spec.name
                        ))
                    })?;
                    Some(base..base + spec.size)
                }
                Source::Region { offset, .. } => {
                    let (_, region, data) = &cvms[exporter.unwrap_or(0)];
                    let base = region.start + offset;
                    let range = base..base + spec.size;
                    if range.start < data.start || range.end > data.end {
                        return Err(ResolveError(alloc::format!(
                            "shared object \"{}\": [{:#x}, +{:#x}) of \"{}\" is not inside its data capability [{:#x}, {:#x}) (its code lies below)",
                            spec.name, offset, spec.size, cvms[exporter.unwrap_or(0)].0, data.start - region.start, data.end - region.start
                        )));
                    }
                    if !exact(range.start, spec.size) {
                        return Err(ResolveError(alloc::format!(
                            "shared object \"{}\": [{:#x}, +{:#x}) of \"{}\" cannot have exact capability bounds: align its offset",
                            spec.name, offset, spec.size, cvms[exporter.unwrap_or(0)].0
                        )));
                    }
                    Some(range)
                }
                Source::RunTime { .. } => None,
            };
            let mut importers = Vec::new();
            for (names, access) in [
                (&spec.read_write, Access::ReadWrite),
                (&spec.read_only, Access::ReadOnly),
            ] {
                for name in names {
                    let i = index(name).ok_or_else(|| {
                        ResolveError(alloc::format!(
                            "shared object \"{}\": importer \"{name}\" is not running",
                            spec.name
                        ))
                    })?;
                    importers.push((i, access));
                }
            }
            objects.push(Object {
                spec: spec.clone(),
                exporter,
                home: range.clone(),
                range,
                importers,
            });
        }
        if stores.len() != cvms.len() {
            return Err(ResolveError("one capability store per cVM".into()));
        }
        let members = cvms
            .iter()
            .zip(stores)
            .map(|((name, _, data), &store)| Member {
                name: name.clone(),
                memory: data.clone(),
                store,
                imported: Vec::new(),
            })
            .collect();
        Ok(Share {
            objects,
            members,
            exact,
        })
    }

    pub fn member(&self, cvm: usize) -> Option<&Member> {
        self.members.get(cvm)
    }

    fn object(&self, name: &[u8]) -> Result<usize, Error> {
        self.objects
            .iter()
            .position(|o| o.spec.name.as_bytes() == name)
            .ok_or(Error::Invalid)
    }

    fn slot_address(&self, cvm: usize, slot: u64) -> Result<u64, Error> {
        let member = self.members.get(cvm).ok_or(Error::Invalid)?;
        if slot >= CAP_STORE_SLOTS {
            return Err(Error::Invalid);
        }
        Ok(member.store + slot * CAP_SLOT_BYTES)
    }

    /// `cp_import`: what to derive into the caller's slot.
    pub fn import(&mut self, cvm: usize, name: &[u8], slot: u64) -> Result<Grant, Error> {
        let at = self.object(name)?;
        let slot_address = self.slot_address(cvm, slot)?;
        let object = &self.objects[at];
        let access = object
            .importers
            .iter()
            .find(|(i, _)| *i == cvm)
            .map(|(_, a)| *a)
            .ok_or(Error::Denied)?;
        let range = object.range.clone().ok_or(Error::Again)?;
        let authority = object.exporter.map_or(Authority::Pool, Authority::Cvm);
        let member = &mut self.members[cvm];
        if !member.imported.contains(&at) {
            member.imported.push(at);
        }
        Ok(Grant {
            authority,
            base: range.start,
            length: range.end - range.start,
            write: access == Access::ReadWrite,
            slot_address,
        })
    }

    /// `cp_export`: the exporter of a run-time object shares `range` of its memory.
    pub fn export(&mut self, cvm: usize, name: &[u8], range: Range<u64>) -> Result<(), Error> {
        let at = self.object(name)?;
        let memory = self.members.get(cvm).ok_or(Error::Invalid)?.memory.clone();
        let object = &mut self.objects[at];
        if object.exporter != Some(cvm) || !matches!(object.spec.source, Source::RunTime { .. }) {
            return Err(Error::Denied);
        }
        if range.start < memory.start || range.end > memory.end || range.start > range.end {
            return Err(Error::Fault);
        }
        let length = range.end - range.start;
        if length == 0 || length > object.spec.size || !(self.exact)(range.start, length) {
            return Err(Error::Invalid);
        }
        if object.range.is_some() {
            return Err(Error::Again);
        }
        object.range = Some(range);
        Ok(())
    }

    /// `cp_revoke`: the exporter takes a run-time object back. The caller must carry out the
    /// returned sweep before the hostcall returns.
    pub fn revoke(&mut self, cvm: usize, name: &[u8]) -> Result<Sweep, Error> {
        let at = self.object(name)?;
        let object = &mut self.objects[at];
        if object.exporter != Some(cvm) || !matches!(object.spec.source, Source::RunTime { .. }) {
            return Err(Error::Denied);
        }
        let range = object.range.take().ok_or(Error::Again)?;
        for member in &mut self.members {
            member.imported.retain(|&o| o != at);
        }
        Ok(Sweep {
            range,
            spare: Some(cvm),
        })
    }

    /// A cVM (re)started: its static exports can be imported again.
    pub fn revive(&mut self, cvm: usize) {
        for object in &mut self.objects {
            if object.exporter == Some(cvm) && object.range.is_none() {
                object.range.clone_from(&object.home);
            }
        }
    }

    /// `cp_drop`: the slot to clear.
    pub fn drop_slot(&self, cvm: usize, slot: u64) -> Result<u64, Error> {
        self.slot_address(cvm, slot)
    }

    /// A cVM ends, faults or restarts: it loses every import (its capability store and its
    /// registers are cleared by the caller) and every capability to its memory held by any
    /// other cVM is swept — the whole region, which covers every object it ever exported,
    /// static or run-time. None of its objects can be imported until it (re)starts
    /// ([`Share::revive`]); run-time ones then wait for a new `cp_export`.
    pub fn teardown(&mut self, cvm: usize, region: Range<u64>) -> Sweep {
        for object in &mut self.objects {
            if object.exporter == Some(cvm) {
                object.range = None;
            }
        }
        let exported: Vec<usize> = (0..self.objects.len())
            .filter(|&o| self.objects[o].exporter == Some(cvm))
            .collect();
        for member in &mut self.members {
            member.imported.retain(|o| !exported.contains(o));
        }
        if let Some(member) = self.members.get_mut(cvm) {
            member.imported.clear();
        }
        Sweep {
            range: region,
            spare: Some(cvm),
        }
    }

    /// The ranges a cVM's PMP window must open besides its region (RISC-V's second line of
    /// defence): the capability stores and the objects it imported, merged down to at most
    /// `max` ranges (over-approximation only widens the second line; the capabilities are
    /// exact). Each range is widened to whole pages ([`PAGE`]). All the stores, not only its
    /// own, form one range: every cVM without imports then has the same window, so switching
    /// between them reprograms nothing (its capability reaches only its own store anyway).
    pub fn pmp_ranges(&self, cvm: usize, max: usize) -> Vec<Range<u64>> {
        let Some(member) = self.members.get(cvm) else {
            return Vec::new();
        };
        let mut ranges: Vec<Range<u64>> = Vec::new();
        let first = self
            .members
            .iter()
            .map(|m| m.store)
            .min()
            .unwrap_or(member.store);
        let last = self
            .members
            .iter()
            .map(|m| m.store)
            .max()
            .unwrap_or(member.store);
        ranges.push(first..last + STORE_BYTES);
        for &o in &member.imported {
            if let Some(r) = &self.objects[o].range {
                ranges.push(r.clone());
            }
        }
        coalesce(ranges, max)
    }
}

/// Sorts, widens to whole pages (see [`PAGE`]), merges overlapping and touching ranges, then
/// merges the closest neighbours until at most `max` remain (`max` ≥ 1).
pub fn coalesce(mut ranges: Vec<Range<u64>>, max: usize) -> Vec<Range<u64>> {
    for r in &mut ranges {
        r.start &= !(PAGE - 1);
        r.end = r.end.saturating_add(PAGE - 1) & !(PAGE - 1);
    }
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    while merged.len() > max.max(1) {
        let closest = (1..merged.len())
            .min_by_key(|&i| merged[i].start - merged[i - 1].end)
            .unwrap_or(1);
        let next = merged.remove(closest);
        merged[closest - 1].end = next.end;
    }
    merged
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::vec;

    fn spec(name: &str, size: u64, source: Source, rw: &[&str], ro: &[&str]) -> FileSpec {
        FileSpec {
            name: name.into(),
            size,
            source,
            read_write: rw.iter().map(|s| String::from(*s)).collect(),
            read_only: ro.iter().map(|s| String::from(*s)).collect(),
        }
    }

    /// producer (0x10_0000), consumer (0x20_0000), watcher (0x30_0000), 1 MiB each, data from +0x1000.
    fn share() -> Share {
        let cvms: Vec<(String, Range<u64>, Range<u64>)> = ["producer", "consumer", "watcher"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let base = 0x10_0000 * (i as u64 + 1);
                (
                    String::from(*n),
                    base..base + 0x10_0000,
                    base + 0x1000..base + 0x10_0000,
                )
            })
            .collect();
        let files = vec![
            spec(
                "ring",
                100,
                Source::Region {
                    exporter: "producer".into(),
                    offset: 0x8_0000,
                },
                &["consumer"],
                &["watcher"],
            ),
            spec(
                "buf",
                0x3010,
                Source::Buffer,
                &["producer", "consumer"],
                &[],
            ),
            spec(
                "live",
                4096,
                Source::RunTime {
                    exporter: "consumer".into(),
                },
                &[],
                &["producer"],
            ),
        ];
        Share::new(
            &files,
            &cvms,
            &[0x9000_0000, 0x9000_1000, 0x9000_2000],
            &[0x9000_4000],
            Morello::bounds_are_exact,
        )
        .expect("resolves")
    }

    #[test]
    fn imports_follow_the_manifest() {
        let mut s = share();
        assert_eq!(
            s.import(1, b"ring", 3),
            Ok(Grant {
                authority: Authority::Cvm(0),
                base: 0x18_0000,
                length: 100,
                write: true,
                slot_address: 0x9000_1030
            })
        );
        let g = s.import(2, b"ring", 0).expect("watcher may read");
        assert!(!g.write, "read-only importer gets no Store");
        assert_eq!(
            s.import(0, b"ring", 0),
            Err(Error::Denied),
            "the exporter is not an importer"
        );
        assert_eq!(s.import(2, b"buf", 0), Err(Error::Denied), "not named");
        assert_eq!(s.import(1, b"nope", 0), Err(Error::Invalid));
        assert_eq!(
            s.import(1, b"ring", CAP_STORE_SLOTS),
            Err(Error::Invalid),
            "slot out of range"
        );
        assert_eq!(
            s.import(0, b"buf", 15),
            Ok(Grant {
                authority: Authority::Pool,
                base: 0x9000_4000,
                length: 0x3010,
                write: true,
                slot_address: 0x9000_00f0
            })
        );
        assert_eq!(
            s.import(0, b"live", 0),
            Err(Error::Again),
            "not exported yet"
        );
    }

    #[test]
    fn run_time_export_and_revoke() {
        let mut s = share();
        assert_eq!(
            s.export(0, b"live", 0x10_2000..0x10_2010),
            Err(Error::Denied),
            "only its exporter"
        );
        assert_eq!(
            s.export(1, b"ring", 0x20_2000..0x20_2010),
            Err(Error::Denied),
            "static objects are not exported at run time"
        );
        assert_eq!(
            s.export(1, b"live", 0x20_0000..0x20_0010),
            Err(Error::Fault),
            "its code is not exportable"
        );
        assert_eq!(
            s.export(1, b"live", 0x20_ff00..0x30_0100),
            Err(Error::Fault),
            "past its memory"
        );
        assert_eq!(
            s.export(1, b"live", 0x20_2000..0x20_2000),
            Err(Error::Invalid),
            "empty"
        );
        assert_eq!(
            s.export(1, b"live", 0x20_2000..0x20_3001),
            Err(Error::Invalid),
            "above size"
        );
        assert_eq!(s.export(1, b"live", 0x20_2000..0x20_2011), Ok(()));
        let mut big = Share::new(
            &[spec(
                "big",
                0x10_0000,
                Source::RunTime {
                    exporter: "a".into(),
                },
                &["b"],
                &[],
            )],
            &[
                (String::from("a"), 0..0x40_0000, 0..0x40_0000),
                (
                    String::from("b"),
                    0x40_0000..0x80_0000,
                    0x40_0000..0x80_0000,
                ),
            ],
            &[0x9000_0000, 0x9000_0100],
            &[],
            Morello::bounds_are_exact,
        )
        .expect("resolves");
        assert_eq!(
            big.export(0, b"big", 0x1001..0x8_1002),
            Err(Error::Invalid),
            "not representable exactly"
        );
        assert_eq!(big.export(0, b"big", 0x1_0000..0x9_0000), Ok(()));
        assert_eq!(
            s.export(1, b"live", 0x20_2000..0x20_2011),
            Err(Error::Again),
            "already exported"
        );
        let g = s.import(0, b"live", 1).expect("exported");
        assert_eq!(
            (g.base, g.length, g.write, g.authority),
            (0x20_2000, 0x11, false, Authority::Cvm(1))
        );
        assert!(s.pmp_ranges(0, 6).contains(&(0x20_2000..0x20_3000)));
        assert_eq!(s.revoke(0, b"live"), Err(Error::Denied));
        assert_eq!(
            s.revoke(1, b"live"),
            Ok(Sweep {
                range: 0x20_2000..0x20_2011,
                spare: Some(1)
            })
        );
        assert_eq!(
            s.revoke(1, b"live"),
            Err(Error::Again),
            "not exported any more"
        );
        assert_eq!(s.import(0, b"live", 1), Err(Error::Again));
        assert!(
            !s.pmp_ranges(0, 6).iter().any(|r| r.start == 0x20_2000),
            "its window closes"
        );
        assert_eq!(
            s.export(1, b"live", 0x20_4000..0x20_4001),
            Ok(()),
            "exported again"
        );
    }

    #[test]
    fn teardown_sweeps_the_whole_region_and_ends_run_time_exports() {
        let mut s = share();
        s.export(1, b"live", 0x20_2000..0x20_2011).expect("export");
        s.import(0, b"live", 0).expect("import");
        s.import(1, b"ring", 0).expect("import");
        let sweep = s.teardown(1, 0x20_0000..0x30_0000);
        assert_eq!(
            sweep,
            Sweep {
                range: 0x20_0000..0x30_0000,
                spare: Some(1)
            }
        );
        assert_eq!(
            s.import(0, b"live", 0),
            Err(Error::Again),
            "its run-time export ended"
        );
        assert_eq!(
            s.pmp_ranges(1, 6),
            vec![0x9000_0000..0x9000_3000],
            "its imports are gone: only the stores are left"
        );
        assert_eq!(
            s.pmp_ranges(0, 6),
            vec![0x9000_0000..0x9000_3000],
            "so are others' imports of its objects"
        );
        // The exporter's static objects are gone until it restarts; others' are not.
        s.import(2, b"ring", 0).expect("producer's object");
        s.teardown(0, 0x10_0000..0x20_0000);
        assert_eq!(
            s.import(1, b"ring", 0),
            Err(Error::Again),
            "its exporter ended"
        );
        s.revive(0);
        assert!(
            s.import(1, b"ring", 0).is_ok(),
            "valid again after a restart"
        );
        s.revive(1);
        assert_eq!(
            s.import(0, b"live", 0),
            Err(Error::Again),
            "a run-time object waits for cp_export"
        );
    }

    #[test]
    fn resolving_refuses_objects_over_code_or_missing_cvms() {
        let cvms = vec![(
            String::from("a"),
            0x10_0000..0x20_0000,
            0x10_4000..0x20_0000,
        )];
        let over_code = spec(
            "x",
            16,
            Source::Region {
                exporter: "a".into(),
                offset: 0x3ff8,
            },
            &["b"],
            &[],
        );
        let err = Share::new(
            &[over_code],
            &cvms,
            &[0x9000_0000],
            &[],
            Morello::bounds_are_exact,
        )
        .err()
        .expect("refused");
        assert!(
            err.0.contains("is not inside its data capability"),
            "{}",
            err.0
        );
        let missing = spec("y", 16, Source::Buffer, &["b"], &[]);
        assert!(
            Share::new(
                &[missing],
                &cvms,
                &[0x9000_0000],
                &[0x9000_1000],
                Morello::bounds_are_exact
            )
            .is_err(),
            "importer b does not run"
        );
    }

    #[test]
    fn coalescing_widens_merges_and_caps_the_count() {
        assert_eq!(
            coalesce(vec![0x5005..0x5006, 0x4001..0x4002], 4),
            vec![0x4000..0x6000],
            "widened to pages, then touching"
        );
        assert_eq!(
            coalesce(
                vec![
                    0..4,
                    0x10_0000..0x10_0004,
                    0x1_0000..0x1_0001,
                    0x100_0000..0x100_0004
                ],
                2
            ),
            vec![0..0x10_1000, 0x100_0000..0x100_1000]
        );
        assert_eq!(
            coalesce(vec![0..0x1000, 0x1000..0x1008, 0x3000..0x3001], 8),
            vec![0..0x2000, 0x3000..0x4000]
        );
        assert_eq!(coalesce(vec![], 3), Vec::<Range<u64>>::new());
    }

    #[test]
    fn the_pool_goes_in_the_highest_range_that_holds_it() {
        let free = [0x1000..0x9000, 0x10_0000..0x10_3000];
        assert_eq!(
            place_pool(&free, 0x2000, 0x1000),
            Some(0x10_1000..0x10_3000)
        );
        assert_eq!(place_pool(&free, 0x4000, 0x1000), Some(0x5000..0x9000));
        assert_eq!(place_pool(&free, 0x4000, 0x4000), Some(0x4000..0x8000));
        assert_eq!(place_pool(&free, 0x9000, 0x1000), None);
    }

    #[test]
    fn pool_layout_gives_every_object_exact_bounds() {
        fn check<F: Format>() {
            let sizes = [1, 100, 0x3010, 0x10_0000, 0x4_0000, 0x1_8000];
            let layout = layout_pool::<F>(5, &sizes).expect("fits");
            assert_eq!(layout.stores, vec![0, 0x1000, 0x2000, 0x3000, 0x4000]);
            let align = pool_alignment::<F>(&sizes);
            let plan = F::plan_region(layout.size).expect("plan");
            let base = 0x8000_0000u64;
            assert_eq!(base % align.max(plan.align), 0);
            let mut end = 5 * PAGE;
            for (&off, &size) in layout.buffers.iter().zip(&sizes) {
                assert!(off >= end, "buffers do not overlap");
                assert!(
                    F::bounds_are_exact(base + off, size),
                    "{} bytes at {off:#x}",
                    size
                );
                end = off + size;
            }
            assert!(end <= layout.size);
        }
        check::<Morello>();
        check::<CheriRiscv>();
    }
}
