//! Which run of which cVM the FP/SIMD registers hold, so a switch restores them exactly when
//! they belong to someone else: every start (and restart) of a cVM gets a new [`FpRun`], and a
//! cVM's FP state is reused in the registers only by the very run that left it there. Each
//! core's registers are tracked on their own.

use core::sync::atomic::{AtomicU64, Ordering};

/// One run of one cVM, as far as its FP state goes. 0 is "no run" (a state never prepared).
#[derive(Debug, PartialEq, Eq)]
pub struct FpRun(u64);

/// The next run's number (never 0).
static NEXT: AtomicU64 = AtomicU64::new(1);
/// The run whose FP state each core's registers hold; 0 when none does (the boot state, or
/// after a run's state was discarded).
static LOADED: crate::smp::PerCore = crate::smp::PerCore::new(0);

impl FpRun {
    /// A state no run owns: never counts as loaded.
    pub const NONE: FpRun = FpRun(0);

    /// A new run, different from every earlier one.
    pub fn fresh() -> Self {
        FpRun(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The registers hold this run's FP state (restored for it, and only it ran since).
    pub fn is_loaded(&self) -> bool {
        self.0 != 0 && LOADED.get(crate::smp::this_core()) == self.0
    }

    /// The registers now hold this run's FP state (`restore_fp` calls this).
    pub fn mark_loaded(&self) {
        LOADED.set(crate::smp::this_core(), self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_run_that_loaded_the_registers_owns_them() {
        let a = FpRun::fresh();
        let b = FpRun::fresh();
        assert_ne!(a, b);
        assert!(!FpRun::NONE.is_loaded());
        a.mark_loaded();
        assert!(a.is_loaded() && !b.is_loaded());
        // A restart makes a new run: the old registers are not its own.
        let a_again = FpRun::fresh();
        assert!(!a_again.is_loaded());
        b.mark_loaded();
        assert!(b.is_loaded() && !a.is_loaded());
        FpRun::NONE.mark_loaded();
        assert!(!FpRun::NONE.is_loaded() && !b.is_loaded());
    }
}
