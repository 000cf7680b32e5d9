//! Target `manifest`: the manifest and bundle parser on an arbitrary blob (as `capmon-tool`
//! and the monitor's boot read them), every error formatted, every accepted manifest checked
//! against the rules the parser promises, and the planner run on it as the boot does.

use alloc::format;
use alloc::vec::Vec;

use crate::addr::{PhysAddr, PhysRange};
use crate::cap::{CheriRiscv, Morello};
use crate::cvm::manifest::{
    self, Manifest, OnFault, MAX_CVMS, MAX_MEMORY_SIZE, MAX_NESTING, MAX_RESTARTS, MAX_SHARE,
    MIN_MEMORY_SIZE, NAME_MAX, PAGE_SIZE, STACK_ALIGN,
};
use crate::cvm::plan;

/// Usable memory for the planner: two banks like a small board's.
const USABLE: [PhysRange; 2] = [
    PhysRange {
        start: PhysAddr(0x4100_0000),
        end: PhysAddr(0x8000_0000),
    },
    PhysRange {
        start: PhysAddr(0x8_8000_0000),
        end: PhysAddr(0x8_c000_0000),
    },
];

pub fn run(data: &[u8]) {
    let words = super::aligned(data);
    let blob = super::bytes_of(&words, data.len());
    match manifest::parse_manifest(blob) {
        Ok(m) => check(&m),
        Err(errors) => shown(&errors),
    }
    match manifest::parse_bundle(blob) {
        Ok(bundle) => {
            check(&bundle.manifest);
            for cvm in &bundle.manifest.cvms {
                let image = bundle.image(&cvm.image);
                assert!(
                    image.is_some_and(|i| i.starts_with(&manifest::ELF_MAGIC)),
                    "accepted bundle: cvm {} has no ELF image {}",
                    cvm.name,
                    cvm.image
                );
            }
        }
        Err(errors) => shown(&errors),
    }
}

fn shown(errors: &[manifest::ManifestError]) {
    assert!(!errors.is_empty(), "an error result without errors");
    for e in errors {
        assert!(!format!("{e}").is_empty());
    }
}

/// What an accepted manifest promises (`cvms/manifests/README.md`), then the planner's turn.
fn check(m: &Manifest) {
    let mut names: Vec<&str> = Vec::new();
    for (at, cvm) in m.cvms.iter().enumerate() {
        assert!(cvm.index < MAX_CVMS, "cvm index {}", cvm.index);
        assert!(
            !cvm.name.is_empty() && cvm.name.len() <= NAME_MAX,
            "name {:?}",
            cvm.name
        );
        assert!(
            !names.contains(&cvm.name.as_str()),
            "name {} twice",
            cvm.name
        );
        names.push(&cvm.name);
        assert!(
            cvm.memory_size.is_multiple_of(PAGE_SIZE)
                && (MIN_MEMORY_SIZE..=MAX_MEMORY_SIZE).contains(&cvm.memory_size),
            "memory-size {:#x}",
            cvm.memory_size
        );
        assert!(
            cvm.stack_size > 0
                && cvm.stack_size.is_multiple_of(STACK_ALIGN)
                && cvm.stack_size < cvm.memory_size,
            "stack-size {:#x} of {:#x}",
            cvm.stack_size,
            cvm.memory_size
        );
        assert!((1..=MAX_SHARE).contains(&cvm.share), "share {}", cvm.share);
        if let OnFault::Restart { max } = cvm.on_fault {
            assert!((1..=MAX_RESTARTS).contains(&max), "restarts {max}");
        }
        if let Some(parent) = cvm.parent {
            assert!(parent < at, "cvm {at}'s parent {parent} comes after it");
        }
        assert!(
            m.level(at) <= MAX_NESTING,
            "cvm {at} nested {} deep",
            m.level(at)
        );
        let path = m.path(at);
        assert!(
            path.ends_with(cvm.name.as_str()),
            "path {path} of {}",
            cvm.name
        );
        assert_eq!(path.split('/').count(), m.level(at), "path {path}");
        for child in m.children(at) {
            assert_eq!(m.cvms[child].parent, Some(at));
        }
    }
    plans::<Morello>(m);
    plans::<CheriRiscv>(m);
}

/// Plans regions as the boot does; accepted plans give every cVM a region of its size, children
/// inside their parents, top-level regions disjoint and inside usable memory.
fn plans<F: crate::cap::Format>(m: &Manifest) {
    let regions = match plan::plan_regions::<F>(m, &USABLE) {
        Ok(regions) => regions,
        Err(e) => return drop(format!("{e}")),
    };
    assert_eq!(regions.len(), m.cvms.len());
    for (at, (cvm, region)) in m.cvms.iter().zip(&regions).enumerate() {
        assert!(
            region.size() >= cvm.memory_size,
            "cvm {at}: region {region} for {:#x} bytes",
            cvm.memory_size
        );
        if cvm.parent.is_none() {
            assert!(
                USABLE.iter().any(|u| u.covers(region)),
                "cvm {at}: region {region} outside usable memory"
            );
        }
        // Every other cVM's region is inside this one (a descendant) or apart from it.
        for (other, r) in regions.iter().enumerate().skip(at + 1) {
            if is_ancestor(m, at, other) {
                assert!(
                    region.covers(r),
                    "cvm {other}: region {r} outside its ancestor {at}'s {region}"
                );
            } else {
                assert!(
                    !region.overlaps(r),
                    "cvms {at} ({region}) and {other} ({r}) overlap"
                );
            }
        }
    }
}

fn is_ancestor(m: &Manifest, ancestor: usize, mut at: usize) -> bool {
    for _ in 0..=MAX_NESTING {
        match m.cvms[at].parent {
            Some(p) if p == ancestor => return true,
            Some(p) => at = p,
            None => return false,
        }
    }
    false
}
