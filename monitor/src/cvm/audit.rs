//! The capability audit: one row per capability a cVM starts with, printed by the monitor at
//! boot and by `capmon-tool audit` on the host from the same [`format_table`], so the two can
//! be compared line by line (the host writes its JSON with serde, checked against this table).
//!
//! Every row names the cVM's ABI (`hybrid` or `purecap`). A pure cVM's rows follow its entry
//! registers (`cvm/pure.rs`): code (PCC), args (arg1), data (arg2), cap store (arg3), stack
//! (CSP), and DDC, which is null; a null capability shows base and length 0, no permissions
//! and `null` for its otype.
//!
//! The sealing row describes the monitor's sealing capability for the cVM: its bounds are in
//! object-type space, `[otype, otype + 1)`, and it never leaves the monitor; the `otype` column
//! then names the type the cVM's sealed capabilities carry. The other rows are unsealed.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::manifest::Abi;
use super::plan::DefaultCaps;
use crate::cap::{Capability, Format};

pub const ROLE_CODE: &str = "code (PCC)";
pub const ROLE_DATA: &str = "data (DDC)";
pub const ROLE_STACK: &str = "stack (CSP)";
pub const ROLE_SEALING: &str = "sealing type";
pub const ROLE_ARGS: &str = "args (arg1)";
pub const ROLE_PURE_DATA: &str = "data (arg2)";
pub const ROLE_CAP_STORE: &str = "cap store (arg3)";
pub const ROLE_NULL_DDC: &str = "DDC";

/// One capability of one cVM, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub cvm: String,
    /// One of the `ROLE_*` constants.
    pub role: &'static str,
    pub base: u64,
    pub length: u128,
    /// Permission names separated by commas, in the model's reading order (`Load,Execute,Global`).
    pub perms: String,
    /// `unsealed`, `null`, or the object type in hex.
    pub otype: String,
    /// The cVM's ABI: `hybrid` or `purecap`.
    pub abi: &'static str,
}

/// The permission names of `cap` without the brackets of its `Display`.
fn perm_names<F: Format>(cap: &Capability<F>) -> String {
    let shown = format!("{}", cap.perms());
    shown.trim_start_matches('[').trim_end_matches(']').into()
}

fn row<F: Format>(cvm: &str, role: &'static str, cap: &Capability<F>, otype: String) -> AuditRow {
    AuditRow {
        cvm: cvm.into(),
        role,
        base: cap.base(),
        length: cap.length(),
        perms: perm_names(cap),
        otype,
        abi: "hybrid",
    }
}

/// A register that holds no capability.
fn null_row(cvm: &str, role: &'static str) -> AuditRow {
    AuditRow {
        cvm: cvm.into(),
        role,
        base: 0,
        length: 0,
        perms: String::new(),
        otype: "null".into(),
        abi: "purecap",
    }
}

/// The rows of one cVM: code, data, stack, sealing type; for a pure cVM code, args, data,
/// cap store, stack, DDC, sealing type.
pub fn rows<F: Format>(cvm: &str, caps: &DefaultCaps<F>) -> Vec<AuditRow> {
    if caps.abi == Abi::Purecap {
        return pure_rows(cvm, caps);
    }
    let unsealed = || String::from("unsealed");
    let role_otype = |cap: &Capability<F>| {
        if cap.is_sealed() {
            format!("{:#x}", cap.otype())
        } else {
            unsealed()
        }
    };
    alloc::vec![
        row(cvm, ROLE_CODE, &caps.code, role_otype(&caps.code)),
        row(cvm, ROLE_DATA, &caps.data, role_otype(&caps.data)),
        row(cvm, ROLE_STACK, &caps.stack, role_otype(&caps.stack)),
        row(
            cvm,
            ROLE_SEALING,
            &caps.sealer,
            format!("{:#x}", caps.otype)
        ),
    ]
}

/// A pure cVM's rows, in register order.
fn pure_rows<F: Format>(cvm: &str, caps: &DefaultCaps<F>) -> Vec<AuditRow> {
    let pure = |role, cap: &Capability<F>| AuditRow {
        abi: "purecap",
        ..row(cvm, role, cap, "unsealed".into())
    };
    let mut out = alloc::vec![pure(ROLE_CODE, &caps.code)];
    out.push(match &caps.args {
        Some(args) => pure(ROLE_ARGS, args),
        None => null_row(cvm, ROLE_ARGS),
    });
    out.push(pure(ROLE_PURE_DATA, &caps.data));
    out.push(null_row(cvm, ROLE_CAP_STORE));
    out.push(pure(ROLE_STACK, &caps.stack));
    out.push(null_row(cvm, ROLE_NULL_DDC));
    out.push(AuditRow {
        abi: "purecap",
        ..row(
            cvm,
            ROLE_SEALING,
            &caps.sealer,
            format!("{:#x}", caps.otype),
        )
    });
    out
}

const HEADER: [&str; 7] = ["cvm", "role", "base", "length", "perms", "otype", "abi"];

/// The cells of a row, in header order. A nested cVM (its `cvm` is a path, `outer/inner`) is
/// shown by its name, indented two spaces per level under its parent's rows.
fn cells(row: &AuditRow) -> [String; 7] {
    let level = row.cvm.matches('/').count();
    let name = row.cvm.rsplit('/').next().unwrap_or(&row.cvm);
    [
        format!("{:indent$}{name}", "", indent = 2 * level),
        row.role.into(),
        format!("{:#x}", row.base),
        format!("{:#x}", row.length),
        row.perms.clone(),
        row.otype.clone(),
        row.abi.into(),
    ]
}

/// A table with a header line, each column as wide as its widest cell, columns separated by
/// two spaces, no trailing spaces; every line ends with a newline.
pub fn format_table(rows: &[AuditRow]) -> String {
    let body: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for line in &body {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(String::from);
    for line in core::iter::once(&header).chain(&body) {
        let mut text = String::new();
        for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            // Writing to a String cannot fail.
            let _ = write!(text, "{cell:<width$}");
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysRange;
    use crate::cap::{CheriRiscv, Morello};
    use crate::cvm::plan::tests::{layout, manifest};
    use crate::cvm::plan::{default_caps, plan_regions, CvmFormat};

    /// Plans a two-cVM manifest over 1 GiB at 0x8000_0000 and audits it.
    fn audit<F: CvmFormat>() -> Vec<AuditRow> {
        let mut m = manifest(&[0x10_0000, 0x20_0000]);
        m.cvms[0].name = "hello".into();
        m.cvms[1].name = "clock".into();
        let usable = [PhysRange::from_start_size(0x8000_0000, 0x4000_0000).unwrap()];
        let regions = plan_regions::<F>(&m, &usable).unwrap();
        let mut out = Vec::new();
        for (cvm, region) in m.cvms.iter().zip(regions) {
            let (code, stack) = layout(region, 0x5000);
            let caps = default_caps::<F>(region, code, stack, cvm.index).unwrap();
            out.extend(rows(&cvm.name, &caps));
        }
        out
    }

    #[test]
    fn the_table_is_the_same_for_both_formats_and_reads_as_written() {
        let morello = format_table(&audit::<Morello>());
        assert_eq!(morello, format_table(&audit::<CheriRiscv>()));
        assert_eq!(
            morello,
            "\
cvm    role          base        length    perms                otype     abi
hello  code (PCC)    0xbff00000  0x5000    Load,Execute,Global  unsealed  hybrid
hello  data (DDC)    0xbff05000  0xfb000   Load,Store,Global    unsealed  hybrid
hello  stack (CSP)   0xbfff0000  0x10000   Load,Store,Global    unsealed  hybrid
hello  sealing type  0x10        0x1       Seal,Unseal,Global   0x10      hybrid
clock  code (PCC)    0xbfd00000  0x5000    Load,Execute,Global  unsealed  hybrid
clock  data (DDC)    0xbfd05000  0x1fb000  Load,Store,Global    unsealed  hybrid
clock  stack (CSP)   0xbfef0000  0x10000   Load,Store,Global    unsealed  hybrid
clock  sealing type  0x11        0x1       Seal,Unseal,Global   0x11      hybrid
"
        );
    }

    #[test]
    fn nested_cvms_are_indented_under_their_parents_and_their_data_covers_their_children() {
        let mut m = manifest(&[0x40_0000, 0x10_0000]);
        m.cvms[0].name = "outer".into();
        m.cvms[1].name = "inner".into();
        m.cvms[1].parent = Some(0);
        let usable = [PhysRange::from_start_size(0x8000_0000, 0x4000_0000).unwrap()];
        let regions = plan_regions::<Morello>(&m, &usable).unwrap();
        let outer =
            crate::cvm::plan::cvm_caps::<Morello>(&m, &regions, 0, 0..0x5000, None).unwrap();
        let inner = crate::cvm::plan::cvm_caps::<Morello>(&m, &regions, 1, 0..0x5000, Some(&outer))
            .unwrap();
        let mut all = rows(&m.path(0), &outer);
        all.extend(rows(&m.path(1), &inner));
        assert_eq!(
            all[4].cvm, "outer/inner",
            "the JSON and the rows carry the full path"
        );
        assert_eq!(
            format_table(&all),
            "\
cvm      role          base        length    perms                otype     abi
outer    code (PCC)    0xbfc00000  0x5000    Load,Execute,Global  unsealed  hybrid
outer    data (DDC)    0xbfc05000  0x3fb000  Load,Store,Global    unsealed  hybrid
outer    stack (CSP)   0xbfef0000  0x10000   Load,Store,Global    unsealed  hybrid
outer    sealing type  0x10        0x1       Seal,Unseal,Global   0x10      hybrid
  inner  code (PCC)    0xbff00000  0x5000    Load,Execute,Global  unsealed  hybrid
  inner  data (DDC)    0xbff05000  0xfb000   Load,Store,Global    unsealed  hybrid
  inner  stack (CSP)   0xbfff0000  0x10000   Load,Store,Global    unsealed  hybrid
  inner  sealing type  0x11        0x1       Seal,Unseal,Global   0x11      hybrid
"
        );
    }

    #[test]
    fn a_pure_cvm_shows_its_entry_registers_and_its_null_ddc() {
        let region = PhysRange::from_start_size(0xbff0_0000, 0x10_0000).unwrap();
        let (code, stack) = layout(region, 0x5000);
        let caps = crate::cvm::pure::pure_caps::<Morello>(
            &crate::cap::Capability::root(),
            region,
            code,
            stack,
            0,
            16,
        )
        .unwrap();
        assert_eq!(
            format_table(&rows("hello-pure", &caps)),
            "\
cvm         role              base        length   perms                                           otype     abi
hello-pure  code (PCC)        0xbff00000  0x5000   Load,Execute,Global                             unsealed  purecap
hello-pure  args (arg1)       0xbffffff0  0x10     Load                                            unsealed  purecap
hello-pure  data (arg2)       0xbff05000  0xeb000  Load,Store,LoadCap,StoreCap,MutableLoad,Global  unsealed  purecap
hello-pure  cap store (arg3)  0x0         0x0                                                      null      purecap
hello-pure  stack (CSP)       0xbfff0000  0x10000  Load,Store,LoadCap,StoreCap,MutableLoad,Global  unsealed  purecap
hello-pure  DDC               0x0         0x0                                                      null      purecap
hello-pure  sealing type      0x10        0x1      Seal,Unseal,Global                              0x10      purecap
"
        );
        // CHERI-RISC-V: the same but for Morello's MutableLoad.
        let riscv = crate::cvm::pure::pure_caps::<CheriRiscv>(
            &crate::cap::Capability::root(),
            region,
            code,
            stack,
            0,
            16,
        )
        .unwrap();
        let morello_without_mutable_load =
            format_table(&rows("hello-pure", &caps)).replace("MutableLoad,", "");
        let riscv_table = format_table(&rows("hello-pure", &riscv));
        let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squeeze(&riscv_table),
            squeeze(&morello_without_mutable_load)
        );
    }

    #[test]
    fn an_empty_audit_is_just_the_header() {
        assert_eq!(
            format_table(&[]),
            "cvm  role  base  length  perms  otype  abi\n"
        );
    }
}
