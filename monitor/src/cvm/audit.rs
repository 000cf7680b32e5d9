//! The capability audit: one row per capability a cVM starts with, printed by the monitor at
//! boot and by `capmon-tool audit` on the host from the same [`format_table`], so the two can
//! be compared line by line.
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
    AuditRow { cvm: cvm.into(), role, base: 0, length: 0, perms: String::new(), otype: "null".into(), abi: "purecap" }
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
    let pure = |role, cap: &Capability<F>| AuditRow { abi: "purecap", ..row(cvm, role, cap, "unsealed".into()) };
    let mut out = alloc::vec![pure(ROLE_CODE, &caps.code)];
    out.push(match &caps.args {
        Some(args) => pure(ROLE_ARGS, args),
        None => null_row(cvm, ROLE_ARGS),
    });
    out.push(pure(ROLE_PURE_DATA, &caps.data));
    out.push(null_row(cvm, ROLE_CAP_STORE));
    out.push(pure(ROLE_STACK, &caps.stack));
    out.push(null_row(cvm, ROLE_NULL_DDC));
    out.push(AuditRow { abi: "purecap", ..row(cvm, ROLE_SEALING, &caps.sealer, format!("{:#x}", caps.otype)) });
    out
}

const HEADER: [&str; 7] = ["cvm", "role", "base", "length", "perms", "otype", "abi"];

/// The cells of a row, in header order.
fn cells(row: &AuditRow) -> [String; 7] {
    [
        row.cvm.clone(),
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

/// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The rows as a JSON array of objects, one per line. Addresses and lengths are hex strings
/// (lengths reach 2^64, beyond what JSON numbers carry exactly in most readers); `perms` is an
/// array of names.
pub fn format_json(rows: &[AuditRow]) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        let perms: Vec<String> = row
            .perms
            .split(',')
            .filter(|p| !p.is_empty())
            .map(json_string)
            .collect();
        let _ = write!(
            out,
            "{{\"cvm\": {}, \"role\": {}, \"base\": \"{:#x}\", \"length\": \"{:#x}\", \
             \"perms\": [{}], \"otype\": {}, \"abi\": {}}}",
            json_string(&row.cvm),
            json_string(row.role),
            row.base,
            row.length,
            perms.join(", "),
            json_string(&row.otype),
            json_string(row.abi)
        );
    }
    out.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
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
    fn a_pure_cvm_shows_its_entry_registers_and_its_null_ddc() {
        let region = PhysRange::from_start_size(0xbff0_0000, 0x10_0000).unwrap();
        let (code, stack) = layout(region, 0x5000);
        let caps = crate::cvm::pure::pure_caps::<Morello>(region, code, stack, 0, 16).unwrap();
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
        let riscv = crate::cvm::pure::pure_caps::<CheriRiscv>(region, code, stack, 0, 16).unwrap();
        let morello_without_mutable_load = format_table(&rows("hello-pure", &caps)).replace("MutableLoad,", "");
        let riscv_table = format_table(&rows("hello-pure", &riscv));
        let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squeeze(&riscv_table), squeeze(&morello_without_mutable_load));
    }

    #[test]
    fn an_empty_audit_is_just_the_header() {
        assert_eq!(format_table(&[]), "cvm  role  base  length  perms  otype  abi\n");
        assert_eq!(format_json(&[]), "[]\n");
    }

    #[test]
    fn json_lists_every_row_with_perms_as_an_array() {
        let rows = audit::<Morello>();
        let json = format_json(rows.get(..2).unwrap());
        assert_eq!(
            json,
            "[\n  {\"cvm\": \"hello\", \"role\": \"code (PCC)\", \"base\": \"0xbff00000\", \
             \"length\": \"0x5000\", \"perms\": [\"Load\", \"Execute\", \"Global\"], \
             \"otype\": \"unsealed\", \"abi\": \"hybrid\"},\n  {\"cvm\": \"hello\", \"role\": \
             \"data (DDC)\", \"base\": \"0xbff05000\", \"length\": \"0xfb000\", \"perms\": [\
             \"Load\", \"Store\", \"Global\"], \"otype\": \"unsealed\", \"abi\": \"hybrid\"}\n]\n"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("plain"), "\"plain\"");
        assert_eq!(
            json_string("q\"b\\n\nr\rt\tnul\0esc\u{1b}del\u{7f}é"),
            "\"q\\\"b\\\\n\\nr\\rt\\tnul\\u0000esc\\u001bdel\u{7f}é\""
        );
        let row = AuditRow {
            cvm: "a\"b".into(),
            role: ROLE_CODE,
            base: 0,
            length: 1 << 64,
            perms: String::new(),
            otype: "x\ny".into(),
            abi: "hybrid",
        };
        assert_eq!(
            format_json(&[row]),
            "[\n  {\"cvm\": \"a\\\"b\", \"role\": \"code (PCC)\", \"base\": \"0x0\", \
             \"length\": \"0x10000000000000000\", \"perms\": [], \"otype\": \"x\\ny\", \"abi\": \"hybrid\"}\n]\n"
        );
    }
}
