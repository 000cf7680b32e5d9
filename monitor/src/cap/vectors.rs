//! Checks the capability model against test-vector files (the format of
//! `shared/testdata/cap-vectors/`): one place that parses and compares, used by the unit tests
//! and by the host command `capmon-tool cap-vectors DIR`, which does the file I/O.
//!
//! A vector file is text: `#` lines are comments (the first names the columns), every other
//! non-blank line is one vector of hex numbers without `0x`. The kind of file is recognised by
//! its name (`decode`, `representable`, `setbounds`, `set_address`) or else by its header.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{Capability, CheriRiscv, Format, Morello};

/// What a vector file checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorKind {
    /// `pesbt address -> base top perms uperms otype bounds_valid`
    Decode,
    /// `length -> representable_length alignment_mask`
    Representable,
    /// `parent_base parent_length base length -> tag exact base top pesbt`
    SetBounds,
    /// `pesbt address new_address -> keeps_tag`
    SetAddress,
}

impl VectorKind {
    pub const ALL: [VectorKind; 4] = [
        VectorKind::Decode,
        VectorKind::Representable,
        VectorKind::SetBounds,
        VectorKind::SetAddress,
    ];

    /// The file-name stem of this kind in the shared vector directory.
    pub fn name(self) -> &'static str {
        match self {
            VectorKind::Decode => "decode",
            VectorKind::Representable => "representable",
            VectorKind::SetBounds => "setbounds",
            VectorKind::SetAddress => "set_address",
        }
    }

    /// Numbers on one line: inputs and expected outputs.
    fn column_count(self) -> usize {
        match self {
            VectorKind::Decode => 8,
            VectorKind::Representable => 3,
            VectorKind::SetBounds => 9,
            VectorKind::SetAddress => 4,
        }
    }

    /// Recognises `decode.txt`, `setbounds-extra.txt`, `set_bounds.txt`, … by the name's start.
    pub fn from_file_name(file_name: &str) -> Option<VectorKind> {
        let stem = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
        let stem = stem.to_ascii_lowercase();
        let stem = stem.replace(['-', '_'], "");
        // "setaddress" and "setbounds" do not prefix each other, so order does not matter.
        [
            ("decode", VectorKind::Decode),
            ("representable", VectorKind::Representable),
            ("setbounds", VectorKind::SetBounds),
            ("setaddress", VectorKind::SetAddress),
        ]
        .into_iter()
        .find(|(prefix, _)| stem.starts_with(prefix))
        .map(|(_, kind)| kind)
    }

    /// Recognises the column names of the first `#` line.
    pub fn from_header(contents: &str) -> Option<VectorKind> {
        let header = contents
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with('#'))?;
        let has = |column: &str| header.split_whitespace().any(|word| word == column);
        if has("parent_base") {
            Some(VectorKind::SetBounds)
        } else if has("new_address") || has("keeps_tag") {
            Some(VectorKind::SetAddress)
        } else if has("bounds_valid") || has("uperms") {
            Some(VectorKind::Decode)
        } else if has("representable_length") || has("alignment_mask") {
            Some(VectorKind::Representable)
        } else {
            None
        }
    }

    /// By file name, else by header.
    pub fn detect(file_name: &str, contents: &str) -> Option<VectorKind> {
        Self::from_file_name(file_name).or_else(|| Self::from_header(contents))
    }
}

/// Which capability format a vector directory holds (by its name: `morello`, `riscv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorFormat {
    Morello,
    CheriRiscv,
}

impl VectorFormat {
    pub const ALL: [VectorFormat; 2] = [VectorFormat::Morello, VectorFormat::CheriRiscv];

    /// The directory name under the vector root.
    pub fn dir_name(self) -> &'static str {
        match self {
            VectorFormat::Morello => Morello::NAME,
            VectorFormat::CheriRiscv => CheriRiscv::NAME,
        }
    }

    pub fn from_dir_name(name: &str) -> Option<VectorFormat> {
        Self::ALL
            .into_iter()
            .find(|format| format.dir_name() == name)
    }
}

/// One failing vector line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 1-based line number in the file.
    pub line: usize,
    /// The inputs, and each output that differs as "expected …, got …" (or why the line could
    /// not be read).
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Counts of one file's vector lines, and the first failures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// At most the `max_failures` given to the check, in file order.
    pub failures: Vec<Failure>,
}

/// Checks every vector line of `contents` (a file of `kind`) against the model of `format`,
/// keeping the first `max_failures` failure descriptions.
pub fn check_vectors(
    format: VectorFormat,
    kind: VectorKind,
    contents: &str,
    max_failures: usize,
) -> Summary {
    match format {
        VectorFormat::Morello => check_vectors_for::<Morello>(kind, contents, max_failures),
        VectorFormat::CheriRiscv => check_vectors_for::<CheriRiscv>(kind, contents, max_failures),
    }
}

/// [`check_vectors`] for a format known at compile time.
pub fn check_vectors_for<F: Format>(
    kind: VectorKind,
    contents: &str,
    max_failures: usize,
) -> Summary {
    let mut summary = Summary::default();
    for (index, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_numbers(line, kind.column_count())
            .and_then(|numbers| check_line::<F>(kind, &numbers))
        {
            Ok(()) => summary.passed += 1,
            Err(message) => {
                summary.failed += 1;
                if summary.failures.len() < max_failures {
                    summary.failures.push(Failure {
                        line: index + 1,
                        message: format!("{line}: {message}"),
                    });
                }
            }
        }
    }
    summary
}

fn parse_numbers(line: &str, expected_count: usize) -> Result<Vec<u128>, String> {
    let numbers = line
        .split_whitespace()
        .filter(|word| *word != "->")
        .map(|word| {
            u128::from_str_radix(word, 16).map_err(|_| format!("`{word}` is not a hex number"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if numbers.len() != expected_count {
        return Err(format!(
            "expected {expected_count} hex numbers, found {}",
            numbers.len()
        ));
    }
    Ok(numbers)
}

fn to_u64(value: u128, column: &str) -> Result<u64, String> {
    u64::try_from(value).map_err(|_| format!("{column} {value:#x} does not fit in 64 bits"))
}

fn to_bool(value: u128, column: &str) -> Result<bool, String> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(format!("{column} must be 0 or 1, found {value:#x}")),
    }
}

/// Collects "name: expected X, got Y" for each differing output.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn compare(&mut self, column: &str, expected: u128, got: u128) {
        if expected != got {
            self.0
                .push(format!("{column}: expected {expected:#x}, got {got:#x}"));
        }
    }
    fn into_result(self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0.join("; "))
        }
    }
}

fn check_line<F: Format>(kind: VectorKind, numbers: &[u128]) -> Result<(), String> {
    let mut mismatches = Mismatches::default();
    match (kind, numbers) {
        (VectorKind::Decode, &[high, address, base, top, perms, uperms, otype, bounds_valid]) => {
            let cap = Capability::<F>::from_memory(
                to_u64(high, "pesbt")?,
                to_u64(address, "address")?,
                true,
            );
            let fields = cap.fields();
            mismatches.compare("base", base, fields.base.into());
            mismatches.compare("top", top, fields.top);
            mismatches.compare("perms", perms, fields.perms.into());
            mismatches.compare("uperms", uperms, fields.uperms.into());
            mismatches.compare("otype", otype, fields.otype.into());
            mismatches.compare(
                "bounds_valid",
                bounds_valid,
                u128::from(fields.bounds_valid),
            );
        }
        (VectorKind::Representable, &[length, representable_length, alignment_mask]) => {
            let length = to_u64(length, "length")?;
            mismatches.compare(
                "rrlen",
                representable_length,
                F::representable_length(length).into(),
            );
            mismatches.compare("rrmask", alignment_mask, F::alignment_mask(length).into());
        }
        (
            VectorKind::SetBounds,
            &[parent_base, parent_length, base, length, tag, exact, new_base, new_top, high],
        ) => {
            let parent = Capability::<F>::root()
                .set_address(to_u64(parent_base, "parent_base")?)
                .set_bounds(to_u64(parent_length, "parent_length")?)
                .cap;
            let result = parent
                .set_address(to_u64(base, "base")?)
                .set_bounds(to_u64(length, "length")?);
            mismatches.compare(
                "tag",
                u128::from(to_bool(tag, "tag")?),
                u128::from(result.tag()),
            );
            mismatches.compare(
                "exact",
                u128::from(to_bool(exact, "exact")?),
                u128::from(result.exact),
            );
            mismatches.compare("base", new_base, result.cap.base().into());
            mismatches.compare("top", new_top, result.cap.top());
            mismatches.compare("pesbt", high, result.cap.high_word().into());
        }
        (VectorKind::SetAddress, &[high, address, new_address, keeps_tag]) => {
            let cap = Capability::<F>::from_memory(
                to_u64(high, "pesbt")?,
                to_u64(address, "address")?,
                true,
            );
            let moved = cap.set_address(to_u64(new_address, "new_address")?);
            mismatches.compare(
                "keeps_tag",
                u128::from(to_bool(keeps_tag, "keeps_tag")?),
                u128::from(moved.tag()),
            );
        }
        // `parse_numbers` checked the count, so the patterns above always match.
        _ => return Err(format!("expected {} hex numbers", kind.column_count())),
    }
    mismatches.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const VECTOR_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/cap-vectors"
    );
    const SHOWN_FAILURES: usize = 10;

    /// Reads every vector file of one format; panics (fails the test) if the directory or any
    /// of the four kinds is missing, so a moved directory cannot make the test pass vacuously.
    fn vector_files(format: VectorFormat) -> Vec<(PathBuf, String)> {
        let dir = PathBuf::from(VECTOR_DIR).join(format.dir_name());
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| {
            panic!("capability vectors missing at {}: {error}", dir.display())
        });
        let mut files: Vec<(PathBuf, String)> = entries
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
            .map(|path| {
                let text = std::fs::read_to_string(&path).expect("readable vector file");
                (path, text)
            })
            .collect();
        files.sort();
        for kind in VectorKind::ALL {
            assert!(
                files.iter().any(
                    |(path, _)| VectorKind::from_file_name(&path.to_string_lossy()) == Some(kind)
                ),
                "no {} vectors in {}",
                kind.name(),
                dir.display()
            );
        }
        files
    }

    fn check_all(format: VectorFormat) {
        let mut report = String::new();
        let mut total = 0;
        for (path, text) in vector_files(format) {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let kind = VectorKind::detect(&name, &text)
                .unwrap_or_else(|| panic!("unknown vector file {name}"));
            let summary = check_vectors(format, kind, &text, SHOWN_FAILURES);
            assert!(
                summary.passed + summary.failed > 100,
                "{name} has too few vectors"
            );
            total += summary.passed;
            if summary.failed > 0 {
                report.push_str(&format!(
                    "{}/{name}: {} failed\n",
                    format.dir_name(),
                    summary.failed
                ));
                for failure in &summary.failures {
                    report.push_str(&format!("  {failure}\n"));
                }
            }
        }
        assert!(report.is_empty(), "capability vectors failed:\n{report}");
        assert!(
            total >= 4 * 1000,
            "only {total} {} vectors",
            format.dir_name()
        );
    }

    #[test]
    fn every_morello_vector_passes() {
        check_all(VectorFormat::Morello);
    }

    #[test]
    fn every_riscv_vector_passes() {
        check_all(VectorFormat::CheriRiscv);
    }

    #[test]
    fn kinds_are_recognised_by_name_or_header() {
        assert_eq!(
            VectorKind::from_file_name("dir/set_address.txt"),
            Some(VectorKind::SetAddress)
        );
        assert_eq!(
            VectorKind::from_file_name("setbounds.txt"),
            Some(VectorKind::SetBounds)
        );
        assert_eq!(
            VectorKind::from_file_name("Set-Bounds-more.txt"),
            Some(VectorKind::SetBounds)
        );
        assert_eq!(VectorKind::from_file_name("other.txt"), None);
        let header = "# length representable_length alignment_mask (hex)\n0 0 ffffffffffffffff\n";
        assert_eq!(
            VectorKind::detect("extra.txt", header),
            Some(VectorKind::Representable)
        );
        assert_eq!(VectorKind::detect("extra.txt", "1 2 3\n"), None);
    }

    #[test]
    fn wrong_values_and_malformed_lines_fail_with_a_description() {
        let text = "# length representable_length alignment_mask\n\
                    4001 4008 fffffffffffffff8\n\
                    4001 4009 fffffffffffffff8\n\
                    4001 zz fffffffffffffff8\n\
                    4001 4008\n";
        let summary = check_vectors(VectorFormat::Morello, VectorKind::Representable, text, 2);
        assert_eq!((summary.passed, summary.failed), (1, 3));
        assert_eq!(summary.failures.len(), 2);
        assert_eq!(summary.failures[0].line, 3);
        assert!(summary.failures[0]
            .message
            .contains("rrlen: expected 0x4009, got 0x4008"));
        assert!(summary.failures[1].message.contains("not a hex number"));
    }
}
