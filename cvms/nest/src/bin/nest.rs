//! The `nest` demo cVM: a parent that serves its children's hostcalls. It writes each child's
//! console output itself, prefixed `<me> serves <child>: `, so a line that crossed two parents
//! reads `outer serves middle: middle serves inner: hello`. Every other hostcall it passes on
//! to the monitor (`forward`), except numbers from [`OWN_HOSTCALLS`] up, which a serving
//! parent may define for its children: it defines none, so it answers them `NoSys` itself
//! (`just bench` times that round trip). It reports each child's ending, and exits 0 once every child has
//! ended: 1 if one faulted, unless `expect-fault=<name>` names it.
//!
//! Before serving it checks that a handle it does not have is refused (`probe: handle N
//! refused`).
#![cfg_attr(target_os = "none", no_std, no_main)]

use capmon_sdk::nest::{self, Child};
use capmon_sdk::{println, Args, ChildEventKind, Error, Hostcall, WhoAmIExt};

capmon_sdk::main!(serve);

/// Hostcall numbers from here up are the parent's own to define (the monitor's are far below).
const OWN_HOSTCALLS: u64 = 1000;
/// Children whose console lines it assembles separately (more share a buffer).
const MAX_CHILDREN: usize = 8;

fn serve(mut args: Args) -> i32 {
    let me = capmon_sdk::whoami();
    let me = me.name_str();
    let expect_fault = args.find_map(|a| a.strip_prefix("expect-fault="));
    let mut children = 0u64;
    while nest::info(Child(children)).is_ok() {
        children += 1;
    }
    println!("{me}: serving {children} children");
    // A handle past the last child names nothing: not another cVM, not a region.
    match nest::start(Child(children)) {
        Err(Error::Invalid) => println!("{me}: probe: handle {children} refused"),
        other => println!("{me}: probe: handle {children} gave {other:?} (expected Invalid)"),
    }
    let mut ended = 0;
    let mut verdict = 0;
    let mut reply: Option<(Child, u64)> = None;
    // Each child's console line so far (bytes, length).
    let mut lines = [([0u8; 256], 0usize); MAX_CHILDREN];
    // One record for the whole loop: the monitor writes each event straight into it.
    let mut event = capmon_sdk::ChildEvent::zeroed();
    while ended < children {
        let next = match reply.take() {
            Some((child, value)) => nest::reply_wait_into(child, value, u64::MAX, &mut event),
            None => nest::wait_into(u64::MAX, &mut event),
        };
        match next {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                println!("{me}: child_wait failed: {e:?}");
                return 1;
            }
        }
        let child = Child(event.handle);
        let name = || nest::name(&event);
        match nest::kind(&event) {
            Some(ChildEventKind::Hostcall) if event.number == Hostcall::ConsoleWrite as u64 => {
                let (ptr, len) = (event.args[0], event.args[1].min(512));
                match nest::child_bytes(&event, ptr, len) {
                    Some(bytes) => {
                        // Whole lines, as the monitor prints a cVM's own: a write without its
                        // end of line waits in the child's line buffer for the rest.
                        let line =
                            &mut lines[usize::try_from(event.handle).unwrap_or(0) % MAX_CHILDREN];
                        for &b in bytes {
                            if b == b'\n' {
                                let text = core::str::from_utf8(&line.0[..line.1])
                                    .unwrap_or("<not UTF-8>");
                                println!("{me} serves {}: {text}", name());
                                line.1 = 0;
                            } else if line.1 < line.0.len() {
                                line.0[line.1] = b;
                                line.1 += 1;
                            }
                        }
                        reply = Some((child, len));
                    }
                    None => reply = Some((child, Error::Fault.to_result())),
                }
            }
            Some(ChildEventKind::Hostcall) if event.number >= OWN_HOSTCALLS => {
                reply = Some((child, Error::NoSys.to_result()));
            }
            Some(ChildEventKind::Hostcall) => {
                if let Err(e) = nest::forward(child) {
                    println!(
                        "{me}: forwarding {}'s hostcall {} failed: {e:?}",
                        name(),
                        event.number
                    );
                }
            }
            Some(ChildEventKind::Exited) => {
                println!("{me}: child {} exited with {}", name(), event.code);
                ended += 1;
                if event.code != 0 {
                    verdict = 1;
                }
            }
            Some(ChildEventKind::Faulted) => {
                println!("{me}: child {} faulted: {}", name(), nest::detail(&event));
                ended += 1;
                if expect_fault != Some(name()) {
                    verdict = 1;
                }
            }
            None => println!("{me}: unknown event kind {}", event.kind),
        }
    }
    println!("{me}: all {children} children ended");
    verdict
}
