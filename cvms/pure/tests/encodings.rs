//! Every raw CHERI instruction word in `src/` (an `.inst 0x…` or `.word 0x…` string with its
//! mnemonic in the Rust comment beside it) checked against the monitor's tested encoders
//! (`monitor/src/arch/insn`): the source is scanned, so a word added without an entry here, a
//! word that drifts from its encoder, or a comment naming another instruction fails.

use capmon::arch::insn::{cheri_riscv as rv, morello as m};
use std::collections::BTreeMap;

/// Registers by their assembly names (Morello x/c numbers; RISC-V ABI names).
const A0: u32 = 10;
const A1: u32 = 11;
const A2: u32 = 12;
const A3: u32 = 13;
const S1: u32 = 9;
const T0: u32 = 5;
const T1: u32 = 6;
const T3: u32 = 28;
const T4: u32 = 29;
const T5: u32 = 30;
const T6: u32 = 31;
const RA: u32 = 1;

/// Mnemonic (as the comments spell it) → the encoder's word.
fn encoders() -> BTreeMap<&'static str, u32> {
    BTreeMap::from([
        // Morello
        ("scvalue c0, c2, x9", m::scvalue(0, 2, 9)),
        ("scbndse c0, c0, x1", m::scbndse(0, 0, 1)),
        ("scbndse c0, c0, x10", m::scbndse(0, 0, 10)),
        ("scbnds c0, c0, x10", m::scbnds(0, 0, 10)),
        (
            "clrperm c0, c0, w",
            m::clrperm_imm(0, 0, m::clrperm_bits::STORE),
        ),
        (
            "clrperm c0, c0, r",
            m::clrperm_imm(0, 0, m::clrperm_bits::LOAD),
        ),
        ("cpy c19, c1", m::cpy(19, 1)),
        ("cpy c0, c19", m::cpy(0, 19)),
        ("gclen x1, c0", m::gclen(1, 0)),
        ("gcvalue x9, c2", m::gcvalue(9, 2)),
        ("ldr x10, [x9]", m::aldr_x(10, 9, 0)),
        ("seal c0, c0, rb", m::seal_imm(0, 0, m::seal_form::RB)),
        ("gcvalue x11, c2", m::gcvalue(11, 2)),
        ("scvalue c10, c2, x11", m::scvalue(10, 2, 11)),
        ("gcvalue x13, c10", m::gcvalue(13, 10)),
        ("cpy c0, c10", m::cpy(0, 10)),
        ("gclen x9, c2", m::gclen(9, 2)),
        ("sub csp, csp, #512", m::sub_imm(31, 31, 512)),
        ("gcvalue x9, c2", m::gcvalue(9, 2)),
        // pure-dma-tags (also gcvalue x11, c2 and scvalue c10, c2, x11 above)
        ("scvalue c13, c2, x12", m::scvalue(13, 2, 12)),
        ("str c2, [c13]", m::str_cap(2, 13, 0)),
        ("ldr c14, [c13]", m::ldr_cap(14, 13, 0)),
        ("gctag x15, c14", m::gctag(15, 14)),
        ("cpy c1, c10", m::cpy(1, 10)),
        // CHERI-RISC-V
        ("csetaddr ca0, ca2, a1", rv::csetaddr(A0, A2, A1)),
        (
            "csetboundsexact ca0, ca0, a1",
            rv::csetboundsexact(A0, A0, A1),
        ),
        (
            "csetboundsexact ca0, ca0, t1",
            rv::csetboundsexact(A0, A0, T1),
        ),
        ("cmove cs1, ca1", rv::cmove(S1, A1)),
        ("cmove ca0, cs1", rv::cmove(A0, S1)),
        ("cgetlen a1, ca0", rv::cgetlen(A1, A0)),
        ("cgetaddr a1, ca2", rv::cgetaddr(A1, A2)),
        ("ld.ddc a0, (a1)", rv::ld_ddc(A0, A1)),
        ("csealentry ca0, ca0", rv::csealentry(A0, A0)),
        ("ccleartag ca0, ca0", rv::ccleartag(A0, A0)),
        ("candperm ca0, ca0, t0", rv::candperm(A0, A0, T0)),
        ("cgetaddr t4, ca2", rv::cgetaddr(T4, A2)),
        ("csetaddr ct3, ca2, t4", rv::csetaddr(T3, A2, T4)),
        ("cincoffsetimm ct3, ct3, -1", rv::cincoffsetimm(T3, T3, -1)),
        ("cgetaddr t5, ct3", rv::cgetaddr(T5, T3)),
        ("cmove ca0, ct3", rv::cmove(A0, T3)),
        ("cgetlen a1, ca2", rv::cgetlen(A1, A2)),
        (
            "cincoffsetimm csp, csp, -512",
            rv::cincoffsetimm(2, 2, -512),
        ),
        ("cgetaddr t0, ca2", rv::cgetaddr(T0, A2)),
        // pure-waiter
        ("sub csp, csp, #224", m::sub_imm(31, 31, 224)),
        ("add c0, csp, #0", m::add_imm(0, 31, 0)),
        ("scbnds c0, c0, #224", m::scbnds_imm(0, 0, 224)),
        ("cpy c20, c0", m::cpy(20, 0)),
        (
            "cincoffsetimm csp, csp, -224",
            rv::cincoffsetimm(2, 2, -224),
        ),
        ("cmove ca0, csp", rv::cmove(A0, 2)),
        (
            "csetboundsimm ca0, ca0, 224",
            rv::csetboundsimm(A0, A0, 224),
        ),
        ("cmove cs3, ca0", rv::cmove(19, A0)),
        ("cpy c21, c2", m::cpy(21, 2)),
        ("cpy c2, c21", m::cpy(2, 21)),
        ("cmove cs4, ca2", rv::cmove(20, A2)),
        ("cmove ca2, cs4", rv::cmove(A2, 20)),
        ("cincoffset ca3, ca2, a1", rv::cincoffset(A3, A2, A1)),
        // pure-dma-tags (also cgetaddr t0, ca2 above)
        ("csetaddr ct3, ca2, t0", rv::csetaddr(T3, A2, T0)),
        ("csetaddr ct4, ca2, t1", rv::csetaddr(T4, A2, T1)),
        ("sc.cap ca2, (ct4)", rv::sc_cap(A2, T4)),
        ("lc.cap ct5, (ct4)", rv::lc_cap(T5, T4)),
        ("cgettag t6, ct5", rv::cgettag(31, T5)),
        ("cmove ca1, ct3", rv::cmove(A1, T3)),
        // cap-relocs (also scvalue c10, c2, x9 and csetaddr ct3, ca2, a1 below)
        ("scvalue c10, c2, x9", m::scvalue(10, 2, 9)),
        ("ldr c11, [c10]", m::ldr_cap(11, 10, 0)),
        ("ldr c20, [c10]", m::ldr_cap(20, 10, 0)),
        ("gctag x12, c11", m::gctag(12, 11)),
        ("gcbase x12, c11", m::gcbase(12, 11)),
        ("gclen x12, c11", m::gclen(12, 11)),
        ("gcperm x12, c11", m::gcperm(12, 11)),
        ("cpy c0, c11", m::cpy(0, 11)),
        ("gctag x12, c20", m::gctag(12, 20)),
        ("gctype x12, c20", m::gctype(12, 20)),
        ("gcbase x12, c20", m::gcbase(12, 20)),
        ("gcbase x14, c13", m::gcbase(14, 13)),
        ("gclen x12, c20", m::gclen(12, 20)),
        ("gclen x14, c13", m::gclen(14, 13)),
        ("gcperm x12, c20", m::gcperm(12, 20)),
        ("blr c20", m::blr(20)),
        ("ret c30", m::ret(30)),
        ("csetaddr ct3, ca2, a1", rv::csetaddr(T3, A2, A1)),
        ("lc.cap ct4, (ct3)", rv::lc_cap(T4, T3)),
        ("lc.cap ct5, (ct3)", rv::lc_cap(T5, T3)),
        ("cgettag t0, ct4", rv::cgettag(T0, T4)),
        ("cgetbase t0, ct4", rv::cgetbase(T0, T4)),
        ("cgetlen t0, ct4", rv::cgetlen(T0, T4)),
        ("cgetperm t0, ct4", rv::cgetperm(T0, T4)),
        ("cmove ca0, ct4", rv::cmove(A0, T4)),
        ("cgettag t0, ct5", rv::cgettag(T0, T5)),
        ("cgettype t0, ct5", rv::cgettype(T0, T5)),
        ("cspecialr ct6, pcc", rv::cspecialrw(T6, rv::scr::PCC, 0)),
        ("cgetbase t0, ct5", rv::cgetbase(T0, T5)),
        ("cgetbase t1, ct6", rv::cgetbase(T1, T6)),
        ("cgetlen t0, ct5", rv::cgetlen(T0, T5)),
        ("cgetlen t1, ct6", rv::cgetlen(T1, T6)),
        ("cgetperm t0, ct5", rv::cgetperm(T0, T5)),
        ("cjalr cra, ct5", rv::cjalr(RA, T5)),
        ("cjalr cnull, cra", rv::cjalr(0, RA)),
    ])
}

/// Each `(word, comment)` in the sources: a string holding `.inst 0x…` or `.word 0x…`, and the
/// Rust comment after it on the same line.
fn raw_words() -> Vec<(String, u32, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut files = vec![format!("{dir}/lib.rs")];
    for entry in std::fs::read_dir(format!("{dir}/bin")).unwrap() {
        files.push(entry.unwrap().path().display().to_string());
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(at) = line.find(".inst 0x").or_else(|| line.find(".word 0x")) else {
                continue;
            };
            let hex: String = line[at + 8..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            let word =
                u32::from_str_radix(&hex, 16).unwrap_or_else(|e| panic!("{file}:{}: {e}", n + 1));
            let comment = line
                .split("// ")
                .nth(1)
                .unwrap_or_else(|| panic!("{file}:{}: no mnemonic comment", n + 1));
            found.push((format!("{file}:{}", n + 1), word, comment.to_string()));
        }
    }
    found
}

#[test]
fn every_raw_word_matches_its_encoder() {
    let encoders = encoders();
    let words = raw_words();
    assert!(
        words.len() > 20,
        "the scan found only {} words",
        words.len()
    );
    let mut used = std::collections::BTreeSet::new();
    for (at, word, comment) in &words {
        // The mnemonic is the whole comment, or what comes before a `:` or ` (` explaining it.
        let named = |m: &str| {
            comment == m
                || comment
                    .strip_prefix(m)
                    .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(" ("))
        };
        let Some((mnemonic, expected)) = encoders.iter().find(|(m, _)| named(m)) else {
            panic!("{at}: no encoder entry for `{comment}`");
        };
        assert_eq!(
            *word, *expected,
            "{at}: `{mnemonic}` is {expected:#010x}, the source says {word:#010x}"
        );
        used.insert(*mnemonic);
    }
    let unused: Vec<_> = encoders.keys().filter(|m| !used.contains(*m)).collect();
    assert!(unused.is_empty(), "entries no source uses: {unused:?}");
}

#[test]
fn hostcall_numbers_and_results_match_the_abi() {
    use capmon_abi::{Error, Hostcall};
    assert_eq!(cvm_pure::CONSOLE_WRITE, Hostcall::ConsoleWrite as u64);
    assert_eq!(cvm_pure::EXIT, Hostcall::Exit as u64);
    assert_eq!(cvm_pure::FAULT_RESULT as u64, Error::Fault.to_result());
    // The assembly spells them as literals: `mov x8, #0` / `li a7, 0` for console_write,
    // `#2` / `2` for exit, and compares results with -1.
    let sources = raw_sources();
    assert!(sources.contains("\"mov x8, #0\\n\"") && sources.contains("\"li a7, 0\\n\""));
    assert!(sources.contains("\"mov x8, #2\\n\"") && sources.contains("\"li a7, 2\\n\""));
    assert!(sources.contains("cmn x0, #1") && sources.contains("li t0, -1"));
    // `pure-dma-tags` reads with `mov x8, #8` / `li a7, 8`.
    assert_eq!(cvm_pure::DISK_READ, Hostcall::DiskRead as u64);
    assert!(sources.contains("\"mov x8, #8\\n\"") && sources.contains("\"li a7, 8\\n\""));
}

fn raw_sources() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut all = std::fs::read_to_string(format!("{dir}/lib.rs")).unwrap();
    for entry in std::fs::read_dir(format!("{dir}/bin")).unwrap() {
        all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    all
}

/// The registers `pure-regs` fills, stores and compares (its `.irp` lists).
const MORELLO_FILLED: &[u32] = &[
    3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
];
const MORELLO_CHECKED: &[u32] = &[
    2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    30,
];
const RISCV_FILLED: &[u32] = &[
    1, 3, 4, 7, 8, 9, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
];
const RISCV_CHECKED: &[u32] = &[
    1, 3, 4, 7, 8, 9, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
];

/// The `.irp` instruction expressions of `pure-regs` (as written there, `\r` → `r`), each
/// checked against its encoder for every register it runs with.
#[test]
fn irp_expressions_match_the_encoders() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin/pure-regs.rs"))
            .unwrap();
    type Case = (&'static str, &'static [u32], fn(u32) -> u32, fn(u32) -> u32);
    let cases: [Case; 11] = [
        (
            r#"".inst (0xc2ca4040 | \\r)", // scvalue c\r, c2, x10"#,
            MORELLO_FILLED,
            |r| 0xc2ca4040 | r,
            |r| m::scvalue(r, 2, 10),
        ),
        (
            r#"".inst (0xc2c03800 | ((\\r + 1) << 15) | (1 << 14) | (\\r << 5) | \\r)", // scbnds c\r, c\r, #(16 * (\r + 1))"#,
            MORELLO_FILLED,
            |r| 0xc2c03800 | ((r + 1) << 15) | (1 << 14) | (r << 5) | r,
            |r| m::scbnds_imm(r, r, 16 * (r + 1)),
        ),
        (
            r#"".inst (0x02000000 | (\\r << 10) | (\\r << 5) | \\r)", // add c\r, c\r, #\r"#,
            MORELLO_FILLED,
            |r| 0x02000000 | (r << 10) | (r << 5) | r,
            |r| m::add_imm(r, r, r),
        ),
        (
            r#"".inst (0xc20003e0 | (\\r << 10) | \\r)", // str c\r, [csp, #(16 * \r)]"#,
            MORELLO_CHECKED,
            |r| 0xc20003e0 | (r << 10) | r,
            |r| m::str_cap(r, 31, 16 * r),
        ),
        (
            r#"".inst (0xc24003e9 | (\\r << 10))", // ldr c9, [csp, #(16 * \r)]"#,
            MORELLO_CHECKED,
            |r| 0xc24003e9 | (r << 10),
            |r| m::ldr_cap(9, 31, 16 * r),
        ),
        (
            r#"".inst (0xc2c9a401 | (\\r << 5))",  // chkeq c\r, c9"#,
            MORELLO_CHECKED,
            |r| 0xc2c9a401 | (r << 5),
            |r| m::chkeq(r, 9),
        ),
        (
            r#"".word (0x2066005b | (\\r << 7))", // csetaddr c\r, ca2, t1"#,
            RISCV_FILLED,
            |r| 0x2066005b | (r << 7),
            |r| rv::csetaddr(r, A2, T1),
        ),
        (
            r#"".word (0x0000205b | ((16 * (\\r + 1)) << 20) | (\\r << 15) | (\\r << 7))", // csetboundsimm c\r, c\r, 16 * (\r + 1)"#,
            RISCV_FILLED,
            |r| 0x0000205b | ((16 * (r + 1)) << 20) | (r << 15) | (r << 7),
            |r| rv::csetboundsimm(r, r, 16 * (r + 1)),
        ),
        (
            r#"".word (0x0000105b | (\\r << 20) | (\\r << 15) | (\\r << 7))", // cincoffsetimm c\r, c\r, \r"#,
            RISCV_FILLED,
            |r| 0x0000105b | (r << 20) | (r << 15) | (r << 7),
            |r| rv::cincoffsetimm(r, r, i32::try_from(r).unwrap()),
        ),
        (
            r#"".word ((((16 * \\r) >> 5) << 25) | (\\r << 20) | (2 << 15) | (4 << 12) | (((16 * \\r) & 31) << 7) | 0x23)", // sc c\r, (16 * \r)(csp)"#,
            RISCV_CHECKED,
            |r| {
                (((16 * r) >> 5) << 25)
                    | (r << 20)
                    | (2 << 15)
                    | (4 << 12)
                    | (((16 * r) & 31) << 7)
                    | 0x23
            },
            |r| rv::sc(r, 2, i32::try_from(16 * r).unwrap()),
        ),
        (
            r#"".word (0x0001228f | ((16 * \\r) << 20))", // lc ct0, (16 * \r)(csp)"#,
            RISCV_CHECKED,
            |r| 0x0001228f | ((16 * r) << 20),
            |r| rv::lc(T0, 2, i32::try_from(16 * r).unwrap()),
        ),
    ];
    // Compared with runs of white space squeezed: rustfmt aligns the comments after the words.
    let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let source = squeeze(&source);
    for (text, registers, formula, encoder) in cases {
        assert!(
            source.contains(&squeeze(text)),
            "pure-regs.rs no longer says {text}"
        );
        for &r in registers {
            assert_eq!(formula(r), encoder(r), "{text} with r = {r}");
        }
    }
    let cseqx = r#"".word (0x4250035b | (\\r << 15))",        // cseqx t1, c\r, ct0"#;
    assert!(
        source.contains(&squeeze(cseqx)),
        "pure-regs.rs no longer says {cseqx}"
    );
    for &r in RISCV_CHECKED {
        assert_eq!(
            0x4250035b | (r << 15),
            rv::cseqx(T1, r, T0),
            "cseqx with r = {r}"
        );
    }
    // The `.irp` lists in the source are these.
    let list = |regs: &[u32]| {
        format!(
            ".irp r, {}",
            regs.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    for regs in [MORELLO_FILLED, MORELLO_CHECKED, RISCV_FILLED, RISCV_CHECKED] {
        assert!(
            source.contains(&list(regs)),
            "no `{}` in pure-regs.rs",
            list(regs)
        );
    }
}

#[test]
fn cap_relocs_constants_match_the_monitor() {
    use capmon::cap::{MorelloPerms, RiscvPerms};
    use capmon::cvm::cap_relocs;
    assert_eq!(cvm_pure::CAP_RELOC_FUNCTION, cap_relocs::CAP_RELOC_FUNCTION);
    assert_eq!(
        cvm_pure::CAP_RELOC_READ_ONLY,
        cap_relocs::CAP_RELOC_READ_ONLY
    );
    let morello = |p: MorelloPerms| u64::from(p.bits());
    assert_eq!(cvm_pure::MORELLO_PERM_LOAD, morello(MorelloPerms::LOAD));
    assert_eq!(cvm_pure::MORELLO_PERM_STORE, morello(MorelloPerms::STORE));
    assert_eq!(
        cvm_pure::MORELLO_PERM_EXECUTE,
        morello(MorelloPerms::EXECUTE)
    );
    let riscv = |p: RiscvPerms| u64::from(p.bits());
    assert_eq!(cvm_pure::RISCV_PERM_LOAD, riscv(RiscvPerms::LOAD));
    assert_eq!(cvm_pure::RISCV_PERM_STORE, riscv(RiscvPerms::STORE));
    assert_eq!(cvm_pure::RISCV_PERM_EXECUTE, riscv(RiscvPerms::EXECUTE));
    assert_eq!(
        cvm_pure::MORELLO_SENTRY_OTYPE,
        u64::from(capmon::cap::morello::otype::SENTRY)
    );
    // CGetType sign-extends the reserved (18-bit) object types.
    let riscv_sentry = i64::from(capmon::cap::riscv::otype::SENTRY);
    assert_eq!(cvm_pure::RISCV_SENTRY_OTYPE, riscv_sentry - (1 << 18));
}
