//! What the device tree says the machine is: memory, CPUs, console, interrupts, timer, devices.
//! (Being written.)
