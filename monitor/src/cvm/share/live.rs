//! Sharing on the machine: the state the run loop's hooks reach (one `Share`, the share pool,
//! each cVM's authority and CPU state), and the four moments it acts — `init` once every cVM
//! is loaded, `attach` whenever a cVM (re)starts, `teardown` before a cVM's memory is zeroed,
//! `request` for the sharing hostcalls. Decisions are `grants`' and `sweep`'s; capabilities
//! move only through `arch::current::share`.
//!
//! Without capability hardware there is nothing to share safely: a manifest with shared
//! objects is refused, and the hostcalls answer `NoSys`.

use alloc::string::String;
use core::ops::Range;

use capmon_abi::Error;

use super::call::Request;
use crate::addr::PhysRange;
use crate::arch::current::cvm::CvmCpu;
use crate::cvm::manifest::Manifest;

/// What `init` needs to know about one cVM: name, region, data capability bounds.
pub struct Member {
    pub name: String,
    pub region: PhysRange,
    pub data: Range<u64>,
    /// Its parent's position when it is nested (parents come first).
    pub parent: Option<usize>,
    /// Its code capability's bounds (CP_Call gates, entries and return stubs lie in it).
    pub code: Range<u64>,
    /// Its own object type (`plan::DefaultCaps::otype`): what its call pairs are sealed with.
    pub otype: u32,
}

#[cfg(feature = "cheri")]
mod imp {
    use alloc::boxed::Box;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::ops::Range;

    use capmon_abi::Error;

    use super::super::call::Request;
    use super::super::calls::{self, Calls, Export};
    use super::super::grants::{self, Authority, Grant, Share, SharePerms, Sweep, STORE_BYTES};
    use super::super::spec::Source;
    use super::super::sweep::{self, Seen, Slots};
    use super::Member;
    use crate::addr::PhysRange;
    use crate::arch::current::caps::CapSlot;
    use crate::arch::current::cvm::{Authority as CvmAuthority, CvmCpu, Format};
    use crate::arch::current::share as arch;
    use crate::cap::{Capability, Format as _};
    use crate::cvm::manifest::Manifest;

    /// PMP ranges a cVM may have open besides its region (RISC-V; Morello ignores them).
    const PMP_RANGES: usize = 6;

    /// A cVM's callees' code ranges and the rest of their regions (see `window`).
    type CalleeWindow = (Vec<Range<u64>>, Vec<Range<u64>>);

    struct Live {
        share: Share,
        /// The share pool's own capability (authority for buffers and capability stores).
        pool: Box<CapSlot>,
        /// Each cVM's data capability as it started: the authority its exports come from.
        /// Boxed: a tagged slot must never move (a byte copy strips the tag).
        #[allow(clippy::vec_box)]
        authority: Vec<Box<CapSlot>>,
        /// Each cVM's CPU state (`Box`es that never move), registered by `attach`.
        cpus: Vec<*mut CvmCpu>,
        /// Each cVM's region, for teardown.
        regions: Vec<Range<u64>>,
        /// Each cVM's parent (nested cVMs): the memory of a cVM is also its ancestors', by
        /// right, so their own capabilities over it are never swept.
        parents: Vec<Option<usize>>,
        /// CP_Call: exports, imports and their decisions.
        calls: Calls,
        /// Each cVM's object type (for its call pairs).
        otype: Vec<u32>,
        /// Each cVM's authority (`Box`es that never move), registered by `attach`: call code
        /// capabilities are derived from it.
        authorities: Vec<*const CvmAuthority>,
        /// Each cVM's return stub, from its last `cp_call_import`: where a call the monitor
        /// had to end resumes it.
        return_stub: Vec<Option<u64>>,
        /// Each cVM's callees' code (at most `PMP_RANGES - 1` ranges) and data ranges, for its
        /// PMP window (fixed by the manifest, so worked out once).
        callee_windows: Vec<CalleeWindow>,
    }

    impl Live {
        /// Whether `a` is `of` or one of its ancestors.
        fn owns(&self, a: usize, of: usize) -> bool {
            let mut next = Some(of);
            for _ in 0..=self.parents.len() {
                match next {
                    Some(n) if n == a => return true,
                    Some(n) => next = self.parents.get(n).copied().flatten(),
                    None => return false,
                }
            }
            false
        }
    }

    // SAFETY: the pointers are used only by the core that holds their cVM or in an exclusive
    // section (`cvm::run`, `smp`), never concurrently; `LIVE`'s lock orders the rest.
    unsafe impl Send for Live {}

    static LIVE: spin::Mutex<Option<Live>> = spin::Mutex::new(None);

    /// A capability store in the pool as slots for the sweep.
    struct StoreSlots(u64);

    impl StoreSlots {
        /// Slot `i`'s address: 16-byte aligned memory in the share pool, which only the
        /// monitor and the owning cVM touch (and that cVM is not running while the monitor is).
        fn at(&self, i: usize) -> *mut [u64; 2] {
            (self.0 + 16 * u64::try_from(i.min(15)).unwrap_or(0)) as *mut [u64; 2]
        }
    }

    impl Slots for StoreSlots {
        fn count(&self) -> usize {
            16
        }
        fn seen(&self, i: usize) -> Seen {
            // SAFETY: `at` is a valid, aligned slot of a capability store (see `at`).
            arch::seen(unsafe { &*self.at(i) })
        }
        fn clear_tag(&mut self, i: usize) {
            // SAFETY: as in `seen`; nothing else refers to the slot meanwhile.
            arch::clear_tag(unsafe { &mut *self.at(i) });
        }
    }

    fn model(
        base: u64,
        length: u64,
        perms: <Format as crate::cap::Format>::Perms,
    ) -> Capability<Format> {
        let all = <Format as crate::cap::Format>::Perms::ALL;
        let drop = <Format as crate::cap::Format>::Perms::from_bits(all.bits() & !perms.bits());
        Capability::<Format>::root()
            .set_address(base)
            .set_bounds_exact(length)
            .without_perms(drop)
    }

    pub fn init(manifest: &Manifest, members: &[Member], free: &[PhysRange]) -> Result<(), String> {
        let buffer_sizes: Vec<u64> = manifest
            .files
            .iter()
            .filter(|f| f.source == Source::Buffer)
            .map(|f| f.size)
            .collect();
        let layout = grants::layout_pool::<Format>(members.len(), &buffer_sizes)
            .ok_or("the share pool is too large")?;
        let plan = Format::plan_region(layout.size).ok_or("the share pool is too large")?;
        let align = plan
            .align
            .max(grants::pool_alignment::<Format>(&buffer_sizes))
            .max(4096);
        let size = (plan.size + 4095) & !4095;
        let free: Vec<Range<u64>> = free.iter().map(|r| r.start.0..r.end.0).collect();
        let pool = grants::place_pool(&free, size, align).ok_or_else(|| {
            format!("no free memory holds the share pool ({size:#x} bytes aligned to {align:#x})")
        })?;
        // SAFETY: the pool lies in usable RAM outside the monitor's heap and every cVM region
        // (it was placed in what `plan::without` left); nothing else uses it.
        unsafe {
            core::slice::from_raw_parts_mut(
                pool.start as *mut u8,
                usize::try_from(size).unwrap_or(0),
            )
        }
        .fill(0);
        let mut pool_cap = Box::new(CapSlot::null());
        let all = <Format as crate::cap::Format>::Perms::ALL;
        if !arch::derive_from_root(&mut pool_cap.0, &model(pool.start, size, all)) {
            return Err(format!(
                "the share pool [{:#x}, {:#x}) cannot be bounded exactly",
                pool.start, pool.end
            ));
        }
        // Only Load/Store survive into anything derived from it (no Execute, no Global needed).
        let stores: Vec<u64> = layout.stores.iter().map(|o| pool.start + o).collect();
        let buffers: Vec<u64> = layout.buffers.iter().map(|o| pool.start + o).collect();
        let cvms: Vec<(String, Range<u64>, Range<u64>)> = members
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.region.start.0..m.region.end.0,
                    m.data.clone(),
                )
            })
            .collect();
        let share = Share::new(
            &manifest.files,
            &cvms,
            &stores,
            &buffers,
            Format::bounds_are_exact,
        )
        .map_err(|e| e.0)?;
        println!(
            "share: pool [{:#x}, {:#x}): {} capability stores of 16 slots, {} buffers; {} shared objects",
            pool.start,
            pool.end,
            members.len(),
            buffers.len(),
            manifest.files.len()
        );
        let code_ranges: Vec<(String, Range<u64>)> = members
            .iter()
            .map(|m| (m.name.clone(), m.code.clone()))
            .collect();
        let calls = Calls::new(&manifest.calls, &code_ranges)?;
        let callee_windows = (0..members.len())
            .map(|i| {
                let callees = calls.imports_from(i);
                let code = callees.iter().map(|&c| members[c].code.clone()).collect();
                let data = callees
                    .iter()
                    .map(|&c| members[c].code.end..members[c].region.end.0)
                    .collect();
                (grants::coalesce(code, PMP_RANGES - 1), data)
            })
            .collect();
        *LIVE.lock() = Some(Live {
            callee_windows,
            calls,
            otype: members.iter().map(|m| m.otype).collect(),
            authorities: members.iter().map(|_| core::ptr::null()).collect(),
            return_stub: members.iter().map(|_| None).collect(),
            share,
            pool: pool_cap,
            authority: members.iter().map(|_| Box::new(CapSlot::null())).collect(),
            cpus: members.iter().map(|_| core::ptr::null_mut()).collect(),
            regions: members
                .iter()
                .map(|m| m.region.start.0..m.region.end.0)
                .collect(),
            parents: members.iter().map(|m| m.parent).collect(),
        });
        Ok(())
    }

    pub fn attach(slot: usize, cpu: &mut CvmCpu, authority: &CvmAuthority) -> Result<(), String> {
        let mut guard = LIVE.lock();
        let Some(live) = guard.as_mut() else {
            return Ok(());
        };
        if let Some(a) = live.authorities.get_mut(slot) {
            *a = core::ptr::from_ref(authority);
        }
        let member = live.share.member(slot).ok_or("not a sharing member")?;
        let store = member.store;
        let data = member.memory.clone();
        let (Some(authority), Some(cpu_slot)) =
            (live.authority.get_mut(slot), live.cpus.get_mut(slot))
        else {
            return Err("not a sharing member".into());
        };
        *cpu_slot = core::ptr::from_mut(cpu);
        live.share.revive(slot);
        crate::arch::current::caps::with_address(
            &mut authority.0,
            arch::data_capability(cpu),
            data.start,
        );
        let mut store_cap = CapSlot::null();
        if !arch::derive(
            &mut store_cap.0,
            &live.pool.0,
            &model(store, STORE_BYTES, Format::STORE),
        ) {
            return Err("its capability store cannot be derived from the share pool".into());
        }
        clear_store(store);
        arch::install_store(cpu, &store_cap.0, store);
        let ranges = window(live, slot);
        arch::set_shared_window(cpu, &ranges);
        Ok(())
    }

    /// The ranges cVM `i`'s PMP window opens besides its region: capability stores and
    /// imports (`Share::pmp_ranges`), and the region of every cVM it imports a call from —
    /// the callee's code runs on the caller's turn, with no monitor on the path to switch
    /// windows (the capabilities still confine it to what the callee's gate installs).
    ///
    /// A callee's code is opened for fetching (a start with bit 0 set, see
    /// `arch::riscv64::cvm::EXECUTABLE_RANGE`), the rest of its region for data; the data
    /// ranges are merged into what the executable ones leave.
    fn window(live: &Live, i: usize) -> Vec<Range<u64>> {
        let Some((code, callee_data)) = live.callee_windows.get(i).filter(|w| !w.0.is_empty())
        else {
            return live.share.pmp_ranges(i, PMP_RANGES);
        };
        let mut data = live.share.pmp_ranges(i, PMP_RANGES);
        data.extend(callee_data.iter().cloned());
        let mut ranges = grants::coalesce(data, PMP_RANGES - code.len());
        ranges.extend(code.iter().map(|r| (r.start | 1)..r.end));
        ranges
    }

    fn clear_store(store: u64) {
        sweep::clear_all(&mut StoreSlots(store));
    }

    /// Sweeps the saved contexts and capability stores of every cVM but the exporter
    /// (`sweep.spare`, whose CPU state the caller holds: never swept through its pointer) and
    /// its ancestors, which own the swept memory by right; with `descendants`, the exporter's
    /// descendants are spared too (a teardown: they end with it).
    fn run_sweep(live: &Live, s: &Sweep, descendants: bool) -> usize {
        let mut cleared = 0;
        for (i, &cpu) in live.cpus.iter().enumerate() {
            let spared = s
                .spare
                .is_some_and(|e| live.owns(i, e) || (descendants && live.owns(e, i)));
            if spared {
                continue;
            }
            if !cpu.is_null() {
                // SAFETY: `cpu` is a registered cVM's `Box<CvmCpu>`, which never moves or
                // is freed; that cVM is not running (one core, and the running one is
                // the spared caller), and nothing else borrows it during the hostcall.
                let cpu = unsafe { &mut *cpu };
                cleared += sweep::sweep(&mut arch::ContextSlots(&mut cpu.context), &s.range);
            }
            if let Some(m) = live.share.member(i) {
                cleared += sweep::sweep(&mut StoreSlots(m.store), &s.range);
            }
        }
        cleared
    }

    /// Re-opens (or closes) every cVM's PMP window after the imports changed.
    fn refresh_windows(live: &Live, current: usize, cpu: &mut CvmCpu) {
        if !arch::WINDOWS {
            return;
        }
        for (i, &other) in live.cpus.iter().enumerate() {
            let ranges = window(live, i);
            if i == current {
                arch::set_shared_window(cpu, &ranges);
            } else if !other.is_null() {
                // SAFETY: as in `run_sweep`.
                arch::set_shared_window(unsafe { &mut *other }, &ranges);
            }
        }
    }

    pub fn teardown(slot: usize, cpu: &mut CvmCpu) {
        let mut guard = LIVE.lock();
        let Some(live) = guard.as_mut() else { return };
        let Some(region) = live.regions.get(slot).cloned() else {
            return;
        };
        let sweep = live.share.teardown(slot, region);
        // Its descendants end with it (and are torn down themselves): their own capabilities
        // lie inside its region and are not imports, so they are spared here too.
        let mut cleared = run_sweep(live, &sweep, true);
        cleared += end_calls(live, slot);
        if let Some(m) = live.share.member(slot) {
            clear_store(m.store);
        }
        sweep::clear_all(&mut arch::ContextSlots(&mut cpu.context));
        refresh_windows(live, slot, cpu);
        if cleared > 0 {
            println!("share: cvm {}: its memory is revoked: {cleared} capabilities cleared in other cVMs", live.share.member(slot).map_or("?", |m| m.name.as_str()));
        }
    }

    pub fn request(slot: usize, cpu: &mut CvmCpu, request: Request) -> Result<u64, Error> {
        let mut guard = LIVE.lock();
        let live = guard.as_mut().ok_or(Error::NoSys)?;
        match request {
            Request::Import { name, slot: at } => {
                let grant = live.share.import(slot, name.as_bytes(), at)?;
                grant_into(live, &grant)?;
                refresh_windows(live, slot, cpu);
                Ok(grant.length)
            }
            Request::Export { name, range } => {
                // A parent may not export its children's memory: revoking it would have to
                // sweep the children's own capabilities.
                let inside_child = (0..live.regions.len()).any(|c| {
                    c != slot
                        && live.owns(slot, c)
                        && live.regions[c].start < range.1
                        && range.0 < live.regions[c].end
                });
                if inside_child {
                    return Err(Error::Invalid);
                }
                live.share
                    .export(slot, name.as_bytes(), range.0..range.1)
                    .map(|()| 0)
            }
            Request::Revoke { name } => {
                let sweep = live.share.revoke(slot, name.as_bytes())?;
                let cleared = run_sweep(live, &sweep, false);
                refresh_windows(live, slot, cpu);
                Ok(u64::try_from(cleared).unwrap_or(u64::MAX))
            }
            Request::CallExport {
                name,
                gate,
                entry,
                stack,
            } => {
                let memory = live
                    .share
                    .member(slot)
                    .ok_or(Error::Invalid)?
                    .memory
                    .clone();
                live.calls
                    .export(
                        slot,
                        name.as_bytes(),
                        Export {
                            gate,
                            entry,
                            stack: stack.0..stack.1,
                        },
                        &memory,
                    )
                    .map(|()| 0)
            }
            Request::CallImport {
                name,
                slot: at,
                return_stub,
            } => {
                let import = live.calls.import(slot, name.as_bytes(), at, return_stub)?;
                build_call(live, slot, at, return_stub, &import)?;
                if let Some(s) = live.return_stub.get_mut(slot) {
                    *s = Some(return_stub);
                }
                refresh_windows(live, slot, cpu);
                Ok(0)
            }
            Request::Drop { slot: at } => {
                let address = live.share.drop_slot(slot, at)?;
                // SAFETY: a slot of the caller's capability store (see `StoreSlots`).
                arch::clear_tag(unsafe { &mut *(address as *mut [u64; 2]) });
                Ok(0)
            }
        }
    }

    /// A slot `offset` bytes into a capability-store page.
    fn page_slot(page: u64, offset: u64) -> &'static mut [u64; 2] {
        // SAFETY: `page` is a cVM's capability-store page in the share pool (4 KiB, 16-byte
        // aligned, monitor-owned memory that only that cVM's store capability and the call
        // descriptors the monitor made reach), and every offset used is a multiple of 16
        // below 4096 (`calls::DESCRIPTORS_PER_PAGE`).
        unsafe { &mut *((page + offset.min(4096 - 16)) as *mut [u64; 2]) }
    }

    /// Makes an import of a call: the exporter's descriptor for this caller (its DDC, the
    /// caller's call stack, the entry, the caller's return pair) and the caller's sealed pair
    /// in store slots `at`, `at + 1`. Everything is derived from the two cVMs' authorities or
    /// the share pool's capability, and sealed with the monitor's root as the sealer.
    fn build_call(
        live: &Live,
        caller: usize,
        at: u64,
        return_stub: u64,
        import: &calls::Import,
    ) -> Result<(), Error> {
        let callee = import.exporter;
        let (Some(callee_m), Some(caller_m)) =
            (live.share.member(callee), live.share.member(caller))
        else {
            return Err(Error::Invalid);
        };
        let (callee_store, caller_store) = (callee_m.store, caller_m.store);
        let authority = |i: usize| -> Result<&[u64; 2], Error> {
            let a = *live.authorities.get(i).ok_or(Error::Invalid)?;
            if a.is_null() {
                return Err(Error::Again);
            }
            // SAFETY: a registered cVM's `Box<Authority>`, which lives as long as the run loop
            // and never moves.
            Ok(unsafe { &*a }.slot())
        };
        let code = |i: usize| live.calls.code(i).cloned().ok_or(Error::Invalid);
        let failed = |what: &str| {
            println!("share: call import: cannot make {what}");
            Error::Fault
        };
        let d = callee_store + import.descriptor;
        // The descriptor, in the callee's page.
        arch::copy(
            page_slot(d, capmon_abi::call_descriptor::DDC),
            &live.authority.get(callee).ok_or(Error::Invalid)?.0,
        );
        let stack = &import.stack;
        if !arch::derive_at(
            page_slot(d, capmon_abi::call_descriptor::STACK),
            &live.authority.get(callee).ok_or(Error::Invalid)?.0,
            &model(stack.start, stack.end - stack.start, Format::CALL_STACK),
            stack.end,
        ) {
            return Err(failed("the call stack"));
        }
        *page_slot(d, capmon_abi::call_descriptor::ENTRY) = [import.entry, 0];
        let caller_code = code(caller)?;
        let ret_code = page_slot(d, capmon_abi::call_descriptor::RETURN_CODE);
        if !arch::derive_at(
            ret_code,
            authority(caller)?,
            &model(
                caller_code.start,
                caller_code.end - caller_code.start,
                Format::CALL_CODE,
            ),
            return_stub,
        ) || !arch::seal(ret_code, live.otype[caller])
        {
            return Err(failed("the return code capability"));
        }
        let ret_data = page_slot(d, capmon_abi::call_descriptor::RETURN_DATA);
        if !arch::derive(
            ret_data,
            &live.pool.0,
            &model(caller_store, STORE_BYTES, Format::CALL_RETURN_DATA),
        ) || !arch::seal(ret_data, live.otype[caller])
        {
            return Err(failed("the return data capability"));
        }
        // The pair, in the caller's store.
        let callee_code = code(callee)?;
        let pair_code = page_slot(caller_store, at * 16);
        if !arch::derive_at(
            pair_code,
            authority(callee)?,
            &model(
                callee_code.start,
                callee_code.end - callee_code.start,
                Format::CALL_CODE,
            ),
            import.gate,
        ) || !arch::seal(pair_code, live.otype[callee])
        {
            return Err(failed("the entry's code capability"));
        }
        let pair_data = page_slot(caller_store, (at + 1) * 16);
        if !arch::derive(
            pair_data,
            &live.pool.0,
            &model(
                d,
                capmon_abi::call_descriptor::BYTES,
                Format::CALL_DESCRIPTOR,
            ),
        ) || !arch::seal(pair_data, live.otype[callee])
        {
            return Err(failed("the entry's data capability"));
        }
        Ok(())
    }

    /// A cVM ends or restarts: its calls are no longer exported, every descriptor in its page
    /// is wiped, every other cVM's pair reaching those descriptors is swept (the code halves
    /// reach its region and went with the region's sweep), and its own return pairs in other
    /// cVMs' descriptors are wiped. Returns how many capabilities the sweep cleared.
    fn end_calls(live: &mut Live, slot: usize) -> usize {
        // Every (re)start tears down first: a cVM without calls has nothing to wipe or sweep.
        if !live.calls.involves(slot) {
            return 0;
        }
        live.calls.teardown(slot);
        if let Some(s) = live.return_stub.get_mut(slot) {
            *s = None;
        }
        let Some(store) = live.share.member(slot).map(|m| m.store) else {
            return 0;
        };
        let descriptors = store + calls::DESCRIPTORS_AT..store + 4096;
        for at in (descriptors.start..descriptors.end).step_by(16) {
            arch::clear_tag(page_slot(at, 0));
        }
        let cleared = run_sweep(
            live,
            &Sweep {
                range: descriptors,
                spare: Some(slot),
            },
            true,
        );
        for (exporter, offset) in live.calls.descriptors_of(slot) {
            if let Some(m) = live.share.member(exporter) {
                for o in (0..capmon_abi::call_descriptor::BYTES).step_by(16) {
                    arch::clear_tag(page_slot(m.store + offset, o));
                }
            }
        }
        cleared
    }

    /// The callee of the call cVM `slot`'s context is in, if any: the cVM whose code window
    /// is the tagged, unsealed PCC the context resumes with.
    pub fn callee(slot: usize, cpu: &CvmCpu) -> Option<usize> {
        let guard = LIVE.lock();
        let live = guard.as_ref()?;
        let code = arch::resume_code(cpu)?;
        let owner = live.calls.code_owner(code.start)?;
        (owner != slot && live.calls.code(owner) == Some(&code)).then_some(owner)
    }

    /// Resumes cVM `slot` at its return stub with `error`: the call it was in was ended by
    /// the monitor. False if it never imported a call (then it cannot be in one).
    pub fn fail_call(slot: usize, cpu: &mut CvmCpu, error: Error) -> bool {
        let guard = LIVE.lock();
        let Some(live) = guard.as_ref() else {
            return false;
        };
        let (Some(Some(stub)), Some(member), Some(&a), Some(code)) = (
            live.return_stub.get(slot),
            live.share.member(slot),
            live.authorities.get(slot),
            live.calls.code(slot),
        ) else {
            return false;
        };
        if a.is_null() {
            return false;
        }
        // SAFETY: as in `build_call`.
        let authority = unsafe { &*a }.slot();
        let mut pc = CapSlot::null();
        let mut store = CapSlot::null();
        let code_model = model(
            code.start,
            code.end - code.start,
            <Format as crate::cvm::plan::CvmFormat>::CODE_PERMS,
        );
        if !arch::derive_at(&mut pc.0, authority, &code_model, *stub)
            || !arch::derive(
                &mut store.0,
                &live.pool.0,
                &model(member.store, STORE_BYTES, <Format as SharePerms>::STORE),
            )
        {
            return false;
        }
        arch::fail_call(cpu, &pc.0, &store.0, error.to_result());
        true
    }

    fn grant_into(live: &Live, grant: &Grant) -> Result<(), Error> {
        let authority = match grant.authority {
            Authority::Pool => &live.pool.0,
            Authority::Cvm(i) => &live.authority.get(i).ok_or(Error::Invalid)?.0,
        };
        let perms = if grant.write {
            Format::IMPORT_RW
        } else {
            Format::IMPORT_RO
        };
        // SAFETY: `slot_address` is a slot of the caller's capability store (see `StoreSlots`).
        let dst = unsafe { &mut *(grant.slot_address as *mut [u64; 2]) };
        let wanted = model(grant.base, grant.length, perms);
        if arch::derive(dst, authority, &wanted) {
            Ok(())
        } else {
            // Cannot happen for a grant `Share` checked; say what the hardware made of it.
            let got = arch::seen(dst);
            let from = arch::seen(authority);
            println!(
                "share: cannot derive [{:#x}, +{:#x}) from its authority (tag {} [{:#x}, {:#x})): got tag {} [{:#x}, {:#x})",
                grant.base, grant.length, from.tag, from.base, from.top, got.tag, got.base, got.top
            );
            arch::clear_tag(dst);
            Err(Error::Fault)
        }
    }
}

/// Sets sharing up once every cVM is loaded (before any runs). `free` is usable memory minus
/// the heap and every cVM region. Without shared objects in the manifest it still gives every
/// cVM a capability store (so `cp_*` calls answer rather than fault).
pub fn init(manifest: &Manifest, members: &[Member], free: &[PhysRange]) -> Result<(), String> {
    #[cfg(feature = "cheri")]
    return imp::init(manifest, members, free);
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (members, free);
        if !manifest.files.is_empty() {
            Err("shared objects need capability hardware (qemu-morello, qemu-riscv64cheri)".into())
        } else if !manifest.calls.is_empty() {
            Err(
                "calls between cVMs need capability hardware (qemu-morello, qemu-riscv64cheri)"
                    .into(),
            )
        } else {
            Ok(())
        }
    }
}

/// A cVM (re)started: its capability store is cleared and its capability installed, its
/// authority recorded, its PMP window set.
pub fn attach(
    slot: usize,
    cpu: &mut CvmCpu,
    authority: &crate::arch::current::cvm::Authority,
) -> Result<(), String> {
    #[cfg(feature = "cheri")]
    return imp::attach(slot, cpu, authority);
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (slot, cpu, authority);
        Ok(())
    }
}

/// CP_Call: the cVM whose entry cVM `slot`'s context is running in (its PCC is that cVM's
/// code window), or `None` when it runs its own code. Always `None` without capabilities.
pub fn callee(slot: usize, cpu: &CvmCpu) -> Option<usize> {
    #[cfg(feature = "cheri")]
    return imp::callee(slot, cpu);
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (slot, cpu);
        None
    }
}

/// CP_Call: the monitor ended the call cVM `slot` was in (its callee faulted or ran out of
/// time); it resumes at its return stub with `error`. False when it has no return stub.
pub fn fail_call(slot: usize, cpu: &mut CvmCpu, error: Error) -> bool {
    #[cfg(feature = "cheri")]
    return imp::fail_call(slot, cpu, error);
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (slot, cpu, error);
        false
    }
}

/// A cVM ends, faults or restarts: before its memory is zeroed, every capability to it held by
/// another cVM is cleared, and it loses every import.
pub fn teardown(slot: usize, cpu: &mut CvmCpu) {
    #[cfg(feature = "cheri")]
    imp::teardown(slot, cpu);
    #[cfg(not(feature = "cheri"))]
    let _ = (slot, cpu);
}

/// Carries out a sharing hostcall for cVM `slot`.
pub fn request(slot: usize, cpu: &mut CvmCpu, request: Request) -> Result<u64, Error> {
    #[cfg(feature = "cheri")]
    return imp::request(slot, cpu, request);
    #[cfg(not(feature = "cheri"))]
    {
        let _ = (slot, cpu, request);
        Err(Error::NoSys)
    }
}
