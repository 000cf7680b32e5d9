//! The `hello` demo cVM: prints its arguments and what `whoami` says, then exits 0.
//!
//! ```text
//! hello from <argv0>: argc=<n> args=<argv[1..] joined by ' '>
//! hello: I am cvm <id> "<name>", region [<base>..<end>)
//! ```
#![cfg_attr(target_os = "none", no_std, no_main)]

use core::fmt;

use capmon_sdk::{println, Args, WhoAmIExt};

capmon_sdk::main!(hello);

fn hello(mut args: Args) -> i32 {
    let argc = args.len();
    let argv0 = args.next().unwrap_or("?");
    println!("hello from {argv0}: argc={argc} args={}", Joined(args));
    let me = capmon_sdk::whoami();
    println!(
        "hello: I am cvm {} \"{}\", region [{:#x}..{:#x})",
        me.id,
        me.name_str(),
        me.region_base,
        me.region_end()
    );
    0
}

/// The remaining arguments separated by single spaces, formatted in place so the whole
/// greeting is still one `println!` (one console write) without an allocator.
struct Joined(Args);

impl fmt::Display for Joined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.clone().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(arg)?;
        }
        Ok(())
    }
}
