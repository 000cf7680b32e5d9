/*
 * capmon.h: the capmon hostcall ABI for C cVMs (the same contract as cvms/abi/src/lib.rs),
 * as static inline functions, plus a few console helpers that need no libc.
 *
 * Build a C cVM with cvms/sdk/c/start.c (the entry point) and the shared linker script:
 *
 *   aarch64-linux-gnu-gcc -ffreestanding -nostdlib -static-pie -fPIE -O2 -mstrict-align \
 *       -fno-stack-protector -Icvms/sdk/include \
 *       -Wl,-T,cvms/sdk/cvm.ld,--no-dynamic-linker -o hello cvms/sdk/c/start.c hello.c
 *   riscv64-linux-gnu-gcc ... -mcmodel=medany (instead of -mstrict-align) ...
 *
 * -mstrict-align: the aarch64 cVM runs with the MMU off, where memory is Device memory and
 * unaligned accesses fault. -mcmodel=medany: riscv64 code must reach data PC-relatively
 * anywhere in the region, not only in the low 2 GiB.
 *
 * A hostcall is `svc #0` (aarch64) or `ecall` (riscv64): number in x8/a7, arguments in
 * x0..x5/a0..a5, result in x0/a0 (negative: -CAPMON_E*). Every other register is preserved.
 */
#ifndef CAPMON_H
#define CAPMON_H

#include <stddef.h>
#include <stdint.h>

/* Hostcall numbers (capmon_abi::Hostcall). */
enum {
    CAPMON_CONSOLE_WRITE = 0,
    CAPMON_CONSOLE_READ = 1,
    CAPMON_EXIT = 2,
    CAPMON_YIELD = 3,
    CAPMON_CLOCK_NS = 4,
    CAPMON_SLEEP_NS = 5,
    CAPMON_WHOAMI = 6,
    CAPMON_DISK_CAPACITY = 7, /* () -> sectors of the disk grant */
    CAPMON_DISK_READ = 8,     /* (sector, buf, count) -> sectors read (at most 128) */
    CAPMON_DISK_WRITE = 9,    /* (sector, buf, count) -> sectors written (at most 128) */
    CAPMON_DISK_FLUSH = 10,   /* () -> 0 */
    CAPMON_NET_INFO = 11,     /* (buf, len) -> size of struct capmon_net_info */
    CAPMON_NET_SEND = 12,     /* (frame, len) -> len */
    CAPMON_NET_RECV = 13,     /* (buf, len) -> frame length; -CAPMON_EAGAIN when none waits */
    CAPMON_NET_WAIT = 14,     /* (timeout_ns) -> frames waiting (0: timed out) */
    CAPMON_CP_IMPORT = 30,    /* (name, name_len, slot) -> the object's length */
    CAPMON_CP_EXPORT = 31,    /* (name, name_len, ptr, len) -> 0 */
    CAPMON_CP_REVOKE = 32,    /* (name, name_len) -> capabilities cleared */
    CAPMON_CP_DROP = 33,      /* (slot) -> 0 */
    CAPMON_CP_CALL_EXPORT = 34, /* (name, name_len, gate, entry, stack, stack_len) -> 0 */
    CAPMON_CP_CALL_IMPORT = 35, /* (name, name_len, slot, return_stub) -> 0 */
    CAPMON_STREAM_REGISTER = 40, /* (name, name_len, ring, ring_len) -> handle */
    CAPMON_STREAM_OPEN = 41,    /* (name, name_len, slot) -> handle | ring_len << 16 */
    CAPMON_STREAM_CLOSE = 42,   /* (handle) -> capabilities cleared (receiver) or 0 */
    CAPMON_CP_POLL = 43,        /* (handles, count, timeout_ns) -> ready mask */
    CAPMON_STREAM_NOTIFY = 44,  /* (handle) -> 0 */
};

/* Slots in a cVM's capability store (16 bytes each). */
#define CAPMON_CAP_STORE_SLOTS 16

/* Disk sectors are 512 bytes, numbered from the start of the grant. */
#define CAPMON_SECTOR_SIZE 512

/* Ethernet frames as the net calls move them: destination, source, type, payload; no frame
 * check sequence. A CAPMON_NET_MAX_FRAME-byte receive buffer takes any frame. */
#define CAPMON_NET_MIN_FRAME 14
#define CAPMON_NET_MAX_FRAME 1514
#define CAPMON_NET_MTU 1500

/* Error codes (capmon_abi::Error), returned negated. */
enum {
    CAPMON_EFAULT = 1,  /* a pointer or length reaches outside the caller's memory */
    CAPMON_ENOSYS = 2,  /* no such hostcall */
    CAPMON_EINVAL = 3,  /* an argument is out of range */
    CAPMON_EDENIED = 4, /* no grant for this resource */
    CAPMON_EAGAIN = 5,  /* nothing to do now */
    CAPMON_EIO = 6,     /* the device failed the request or was disabled */
};

#define CAPMON_NAME_MAX 32

/* What capmon_whoami() fills in (capmon_abi::WhoAmI). */
struct capmon_whoami {
    uint64_t id;          /* index in the manifest */
    uint64_t region_base; /* every byte the cVM may touch is in [base, base + size) */
    uint64_t region_size;
    char name[CAPMON_NAME_MAX]; /* NUL-padded */
};

/* What capmon_net_info() fills in (capmon_abi::NetInfo): plain integers, no pointers. */
struct capmon_net_info {
    uint8_t mac[6];      /* the cVM's own MAC: the only source capmon_net_send accepts */
    uint8_t link_up;     /* 1 when the link is up (or the device cannot say) */
    uint8_t device;      /* index of the granted virtio-net device */
    uint32_t mtu;        /* largest payload, CAPMON_NET_MTU */
    uint32_t rx_dropped; /* frames for this cVM dropped because its receive queue was full */
};
_Static_assert(sizeof(struct capmon_net_info) == 16, "capmon_abi::NetInfo::SIZE");

/* The raw hostcall. "memory": some calls write the cVM's memory (read, whoami). */
static inline int64_t capmon_hostcall(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
                                      uint64_t a3, uint64_t a4, uint64_t a5)
{
#if defined(__aarch64__)
    register uint64_t x8 __asm__("x8") = nr;
    register uint64_t x0 __asm__("x0") = a0;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    register uint64_t x4 __asm__("x4") = a4;
    register uint64_t x5 __asm__("x5") = a5;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return (int64_t)x0;
#elif defined(__riscv) && __riscv_xlen == 64
    register uint64_t a7r __asm__("a7") = nr;
    register uint64_t a0r __asm__("a0") = a0;
    register uint64_t a1r __asm__("a1") = a1;
    register uint64_t a2r __asm__("a2") = a2;
    register uint64_t a3r __asm__("a3") = a3;
    register uint64_t a4r __asm__("a4") = a4;
    register uint64_t a5r __asm__("a5") = a5;
    __asm__ volatile("ecall"
                     : "+r"(a0r)
                     : "r"(a7r), "r"(a1r), "r"(a2r), "r"(a3r), "r"(a4r), "r"(a5r)
                     : "memory");
    return (int64_t)a0r;
#else
#error "capmon cVMs run on aarch64 or riscv64"
#endif
}

/* Writes up to len bytes (at most 4096 per call) to the console; returns how many or -error. */
static inline int64_t capmon_console_write(const void *buf, size_t len)
{
    return capmon_hostcall(CAPMON_CONSOLE_WRITE, (uint64_t)(uintptr_t)buf, len, 0, 0, 0, 0);
}

/* Copies waiting console input (never blocks); returns the byte count (0: none) or -error. */
static inline int64_t capmon_read(void *buf, size_t len)
{
    return capmon_hostcall(CAPMON_CONSOLE_READ, (uint64_t)(uintptr_t)buf, len, 0, 0, 0, 0);
}

/* Ends the cVM; 0 is success. */
static inline __attribute__((noreturn)) void capmon_exit(int code)
{
    capmon_hostcall(CAPMON_EXIT, (uint64_t)(int64_t)code, 0, 0, 0, 0, 0);
    for (;;) {
        /* The monitor never resumes an exited cVM. */
    }
}

/* Gives the rest of this time slice to the next runnable cVM. */
static inline void capmon_yield(void)
{
    capmon_hostcall(CAPMON_YIELD, 0, 0, 0, 0, 0, 0);
}

/* Monotonic nanoseconds since the monitor booted. */
static inline uint64_t capmon_clock_ns(void)
{
    return (uint64_t)capmon_hostcall(CAPMON_CLOCK_NS, 0, 0, 0, 0, 0, 0);
}

/* Not runnable for at least ns nanoseconds. */
static inline void capmon_sleep_ns(uint64_t ns)
{
    capmon_hostcall(CAPMON_SLEEP_NS, ns, 0, 0, 0, 0, 0);
}

/* Fills *me; returns its size or -error. */
static inline int64_t capmon_whoami(struct capmon_whoami *me)
{
    return capmon_hostcall(CAPMON_WHOAMI, (uint64_t)(uintptr_t)me, sizeof *me, 0, 0, 0, 0);
}

/* The disk grant: size in sectors, reads and writes of whole sectors, flush. */
static inline int64_t capmon_disk_capacity(void)
{
    return capmon_hostcall(CAPMON_DISK_CAPACITY, 0, 0, 0, 0, 0, 0);
}

static inline int64_t capmon_disk_read(uint64_t sector, void *buf, uint64_t count)
{
    return capmon_hostcall(CAPMON_DISK_READ, sector, (uint64_t)(uintptr_t)buf, count, 0, 0, 0);
}

static inline int64_t capmon_disk_write(uint64_t sector, const void *buf, uint64_t count)
{
    return capmon_hostcall(CAPMON_DISK_WRITE, sector, (uint64_t)(uintptr_t)buf, count, 0, 0, 0);
}

static inline int64_t capmon_disk_flush(void)
{
    return capmon_hostcall(CAPMON_DISK_FLUSH, 0, 0, 0, 0, 0, 0);
}

/* The network grant: whole Ethernet frames to and from the cVM's own MAC. Every call returns
 * -CAPMON_EDENIED without a grant. */

/* Fills *info; returns its size or -error. */
static inline int64_t capmon_net_info(struct capmon_net_info *info)
{
    return capmon_hostcall(CAPMON_NET_INFO, (uint64_t)(uintptr_t)info, sizeof *info, 0, 0, 0, 0);
}

/* Queues one frame whose source is the cVM's MAC; returns len, or -CAPMON_EAGAIN when the
 * transmit queue is full (the frame was not taken: send it again a little later). */
static inline int64_t capmon_net_send(const void *frame, size_t len)
{
    return capmon_hostcall(CAPMON_NET_SEND, (uint64_t)(uintptr_t)frame, len, 0, 0, 0, 0);
}

/* Takes the oldest waiting frame; returns its length, -CAPMON_EAGAIN when none is waiting
 * (never blocks), -CAPMON_EINVAL when len is too short for it (it stays queued). */
static inline int64_t capmon_net_recv(void *buf, size_t len)
{
    return capmon_hostcall(CAPMON_NET_RECV, (uint64_t)(uintptr_t)buf, len, 0, 0, 0, 0);
}

/* Sleeps until a frame is waiting or timeout_ns has passed (0 only asks); returns how many
 * frames are waiting (0: timed out) or -error. */
static inline int64_t capmon_net_wait(uint64_t timeout_ns)
{
    return capmon_hostcall(CAPMON_NET_WAIT, timeout_ns, 0, 0, 0, 0, 0);
}

/* ---- Console helpers (no libc): whole lines are best written with one capmon_console_write,
 * so capmon_line collects a line in a buffer first. ---- */

struct capmon_line {
    char buf[256];
    size_t len;
};

/* Sends what the line holds and empties it. */
static inline void capmon_line_flush(struct capmon_line *l)
{
    size_t done = 0;
    while (done < l->len) {
        int64_t n = capmon_console_write(l->buf + done, l->len - done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    l->len = 0;
}

static inline void capmon_line_char(struct capmon_line *l, char c)
{
    if (l->len == sizeof l->buf)
        capmon_line_flush(l);
    l->buf[l->len++] = c;
}

static inline void capmon_line_str(struct capmon_line *l, const char *s)
{
    while (*s)
        capmon_line_char(l, *s++);
}

/* Appends v in decimal (a leading '-' for negative values). */
static inline void capmon_line_i64(struct capmon_line *l, int64_t v)
{
    char digits[20];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        capmon_line_char(l, '-');
    while (n > 0)
        capmon_line_char(l, digits[--n]);
}

/* Appends v as 0x-prefixed lowercase hex. */
static inline void capmon_line_hex(struct capmon_line *l, uint64_t v)
{
    int shift = 60;
    capmon_line_str(l, "0x");
    while (shift > 0 && ((v >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        capmon_line_char(l, "0123456789abcdef"[(v >> shift) & 0xf]);
}

/* Writes a NUL-terminated string. */
static inline void capmon_puts(const char *s)
{
    size_t len = 0;
    while (s[len])
        len++;
    while (len > 0) {
        int64_t n = capmon_console_write(s, len);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

/* Prints "<prefix><what>" and, when r is not 0, ": <r>", as one line. */
static inline void capmon_report(const char *prefix, const char *what, int64_t r)
{
    struct capmon_line line = { .len = 0 };
    capmon_line_str(&line, prefix);
    capmon_line_str(&line, what);
    if (r != 0) {
        capmon_line_str(&line, ": ");
        capmon_line_i64(&line, r);
    }
    capmon_line_char(&line, '\n');
    capmon_line_flush(&line);
}

/*
 * CP_File: shared objects (see cvms/sdk/src/share.rs, the same design). capmon_cp_import puts
 * a capability to the object into a slot of the capability store, whose own capability the
 * monitor left in RCTPIDR_EL0 (Morello; read as CTPIDR_EL0, banked in Restricted mode) or ctp (CHERI-RISC-V); reads and writes then go
 * straight to the object through it, a byte at a time, checked by the hardware against the
 * object's exact bounds and the granted permissions. The CHERI instructions are raw words,
 * each named in a comment exactly as in share.rs's `words` (its tests check these against the
 * monitor's encoders).
 */
struct capmon_cp_file {
    uint64_t slot;
    uint64_t len;
};

static inline size_t capmon_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

/* Imports the object `name` into `slot`; 0 or -CAPMON_E*. */
static inline int64_t capmon_cp_import(const char *name, uint64_t slot, struct capmon_cp_file *f)
{
    int64_t len = capmon_hostcall(CAPMON_CP_IMPORT, (uint64_t)name, capmon_strlen(name), slot, 0, 0, 0);
    if (len < 0)
        return len;
    f->slot = slot;
    f->len = (uint64_t)len;
    return 0;
}

static inline int64_t capmon_cp_export(const char *name, const void *p, size_t len)
{
    return capmon_hostcall(CAPMON_CP_EXPORT, (uint64_t)name, capmon_strlen(name), (uint64_t)p, len, 0, 0);
}

static inline int64_t capmon_cp_revoke(const char *name)
{
    return capmon_hostcall(CAPMON_CP_REVOKE, (uint64_t)name, capmon_strlen(name), 0, 0, 0, 0);
}

static inline int64_t capmon_cp_drop(uint64_t slot)
{
    return capmon_hostcall(CAPMON_CP_DROP, slot, 0, 0, 0, 0, 0);
}

/* Copies len bytes at `off` of the object (to_object = 0) into buf, or buf to it (1). */
static inline void capmon_cp_copy(uint64_t slot, uint64_t off, void *buf, size_t len, int to_object)
{
#if defined(__aarch64__)
    register uint64_t x10 __asm__("x10") = slot * 16;
    register uint64_t x11 __asm__("x11") = off;
    register uint64_t x13 __asm__("x13") = (uint64_t)to_object;
    register uint64_t x15 __asm__("x15") = (uint64_t)buf;
    register uint64_t x16 __asm__("x16") = len;
    __asm__ volatile(
        ".inst 0xC29BD049\n"   /* MRS_C9_STORE */
        ".inst 0xC2AA6129\n"   /* ADD_C9_C9_X10 */
        ".inst 0x82600129\n"   /* LDR_C9_C9 */
        ".inst 0xC2CB6129\n"   /* SCOFF_C9_C9_X11 */
        "cbnz x13, 5f\n"
        "2: cbz x16, 9f\n"
        ".inst 0x8260052C\n"   /* LDRB_W12_C9 */
        "strb w12, [x15], #1\n"
        ".inst 0x02000529\n"   /* ADD_C9_C9_1 */
        "sub x16, x16, #1\n"
        "b 2b\n"
        "5: cbz x16, 9f\n"
        "ldrb w12, [x15], #1\n"
        ".inst 0x8240052C\n"   /* STRB_W12_C9 */
        ".inst 0x02000529\n"   /* ADD_C9_C9_1 */
        "sub x16, x16, #1\n"
        "b 5b\n"
        "9:\n"
        : "+r"(x15), "+r"(x16)
        : "r"(x10), "r"(x11), "r"(x13)
        : "x9", "x12", "memory", "cc");
#elif defined(__riscv)
    register uint64_t a0 __asm__("a0") = slot * 16;
    register uint64_t a1 __asm__("a1") = off;
    register uint64_t a2 __asm__("a2") = (uint64_t)buf;
    register uint64_t a4 __asm__("a4") = len;
    register uint64_t a5 __asm__("a5") = (uint64_t)to_object;
    __asm__ volatile(
        ".word 0x22A20E5B\n"   /* CINCOFFSET_CT3_CTP_A0 */
        ".word 0xFBFE0E5B\n"   /* LC_CAP_CT3_CT3 */
        ".word 0xFE2E02DB\n"   /* CGETBASE_T0_CT3 */
        "add t0, t0, a1\n"
        ".word 0x205E0E5B\n"   /* CSETADDR_CT3_CT3_T0 */
        "bnez a5, 5f\n"
        "2: beqz a4, 9f\n"
        ".word 0xFACE035B\n"   /* LBU_CAP_T1_CT3 */
        "sb t1, 0(a2)\n"
        "addi a2, a2, 1\n"
        ".word 0x001E1E5B\n"   /* CINCOFFSETIMM_CT3_1 */
        "addi a4, a4, -1\n"
        "j 2b\n"
        "5: beqz a4, 9f\n"
        "lbu t1, 0(a2)\n"
        ".word 0xF86E045B\n"   /* SB_CAP_T1_CT3 */
        "addi a2, a2, 1\n"
        ".word 0x001E1E5B\n"   /* CINCOFFSETIMM_CT3_1 */
        "addi a4, a4, -1\n"
        "j 5b\n"
        "9:\n"
        : "+r"(a2), "+r"(a4)
        : "r"(a0), "r"(a1), "r"(a5)
        : "t0", "t1", "t3", "memory");
#else
#error "capmon cVMs run on aarch64 or riscv64"
#endif
}

/* Reads len bytes at `off` of the object; -CAPMON_EINVAL if that is not inside it. */
static inline int64_t capmon_cp_file_read(const struct capmon_cp_file *f, uint64_t off, void *buf, size_t len)
{
    if (off > f->len || len > f->len - off)
        return -CAPMON_EINVAL;
    capmon_cp_copy(f->slot, off, buf, len, 0);
    return 0;
}

/* Writes len bytes to `off` of the object (a read-only import faults). */
static inline int64_t capmon_cp_file_write(const struct capmon_cp_file *f, uint64_t off, const void *buf, size_t len)
{
    if (off > f->len || len > f->len - off)
        return -CAPMON_EINVAL;
    capmon_cp_copy(f->slot, off, (void *)buf, len, 1);
    return 0;
}

static inline uint64_t capmon_cp_file_len(const struct capmon_cp_file *f)
{
    return f->len;
}

/*
 * CP_Call: calling another cVM's entry point through a sealed pair, no monitor on the path
 * (see cvms/sdk/src/call.rs, the same design and the same stubs, which cvms/sdk/c/call.S
 * carries for C). The exporter offers `entry` with a stack area of its own memory (one slice
 * per importer); an importer imports the call into store slots `slot`, `slot + 1` (slot <= 10)
 * and calls it with four integer arguments.
 */
typedef uint64_t (*capmon_entry)(uint64_t, uint64_t, uint64_t, uint64_t);

struct capmon_cp_call {
    uint64_t slot;
};

struct capmon_call_result {
    uint64_t value;
    uint64_t status; /* 0: `value` is the entry's result; 1: the monitor ended the call, `value` is -CAPMON_E* */
};

extern struct capmon_call_result capmon_cp_call(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3,
                                                uint64_t slot);
extern void capmon_cp_gate(void);
extern void capmon_cp_return(void);

/* Offers `entry` as the call `name`; `stack` (len bytes of this cVM's memory) is never touched
 * by this program again. 0 or -CAPMON_E*. */
static inline int64_t capmon_call_export(const char *name, capmon_entry entry, void *stack, size_t len)
{
    return capmon_hostcall(CAPMON_CP_CALL_EXPORT, (uint64_t)name, capmon_strlen(name),
                           (uint64_t)&capmon_cp_gate, (uint64_t)entry, (uint64_t)stack, len);
}

/* Imports the call `name` into store slots `slot`, `slot + 1`; 0 or -CAPMON_E* (AGAIN until
 * its exporter has exported it). */
static inline int64_t capmon_call_import(const char *name, uint64_t slot, struct capmon_cp_call *c)
{
    int64_t r = capmon_hostcall(CAPMON_CP_CALL_IMPORT, (uint64_t)name, capmon_strlen(name), slot,
                                (uint64_t)&capmon_cp_return, 0, 0);
    if (r < 0)
        return r;
    c->slot = slot;
    return 0;
}

/* Calls it: 0 with the entry's result in *value, or -CAPMON_E* (FAULT: the callee faulted or
 * ran past its budget). */
static inline int64_t capmon_call(const struct capmon_cp_call *c, uint64_t a0, uint64_t a1,
                                  uint64_t a2, uint64_t a3, uint64_t *value)
{
    struct capmon_call_result r = capmon_cp_call(a0, a1, a2, a3, c->slot);
    if (r.status != 0)
        return (int64_t)r.value;
    *value = r.value;
    return 0;
}

/*
 * CP_Stream: byte streams (see cvms/sdk/src/stream.rs, the same protocol). The receiver
 * registers a ring of its own memory (a 64-byte header of u64 words, then the data); the
 * sender opens the stream and writes through the ring's capability in its store slot, never
 * knowing where the ring is. Only the sender moves the tail, only the receiver the head; each
 * keeps its own count. capmon_cp_poll blocks on up to 16 streams with a time-out.
 */
#define CAPMON_STREAM_HEADER 64
#define CAPMON_STREAM_TAIL 0
#define CAPMON_STREAM_HEAD 1
#define CAPMON_STREAM_ENDED 2
#define CAPMON_STREAM_RX_WAITING 3
#define CAPMON_STREAM_TX_WAITING 4

struct capmon_stream_tx {
    uint64_t slot, handle, tail, capacity;
};

struct capmon_stream_rx {
    volatile uint64_t *ring; /* the header words; the data follows */
    uint64_t handle, head, capacity;
};

/* Blocks until one of `n` handles is ready or `timeout_ns` passed: the ready mask, 0 after a
 * time-out, or -CAPMON_E*. */
static inline int64_t capmon_cp_poll(const uint64_t *handles, size_t n, uint64_t timeout_ns)
{
    return capmon_hostcall(CAPMON_CP_POLL, (uint64_t)handles, n, timeout_ns, 0, 0, 0);
}

/* Opens stream `name` as its sender, the ring's capability into store slot `slot`; 0 or
 * -CAPMON_E* (AGAIN until the receiver registered). */
static inline int64_t capmon_stream_open(const char *name, uint64_t slot, struct capmon_stream_tx *tx)
{
    int64_t r = capmon_hostcall(CAPMON_STREAM_OPEN, (uint64_t)name, capmon_strlen(name), slot, 0, 0, 0);
    if (r < 0)
        return r;
    if (((uint64_t)r >> 16) <= CAPMON_STREAM_HEADER)
        return -CAPMON_EINVAL;
    tx->slot = slot;
    tx->handle = (uint64_t)r & 0xffff;
    tx->tail = 0;
    tx->capacity = ((uint64_t)r >> 16) - CAPMON_STREAM_HEADER;
    return 0;
}

static inline uint64_t capmon_stream_tx_word(const struct capmon_stream_tx *tx, unsigned i)
{
    uint64_t w = 0;
    capmon_cp_copy(tx->slot, 8 * (uint64_t)i, &w, sizeof w, 0);
    return w;
}

/* Writes as much of buf as fits now: the bytes written (0: the ring is full) or -CAPMON_E*. */
static inline int64_t capmon_stream_write(struct capmon_stream_tx *tx, const void *buf, size_t len)
{
    uint64_t head = capmon_stream_tx_word(tx, CAPMON_STREAM_HEAD);
    uint64_t used = tx->tail - head, n, pos, first;
    if (used > tx->capacity)
        return -CAPMON_EINVAL;
    n = tx->capacity - used < len ? tx->capacity - used : len;
    if (n == 0)
        return 0;
    pos = tx->tail % tx->capacity;
    first = tx->capacity - pos < n ? tx->capacity - pos : n;
    capmon_cp_copy(tx->slot, CAPMON_STREAM_HEADER + pos, (void *)buf, first, 1);
    if (n > first)
        capmon_cp_copy(tx->slot, CAPMON_STREAM_HEADER, (char *)buf + first, n - first, 1);
    tx->tail += n;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    capmon_cp_copy(tx->slot, 8 * CAPMON_STREAM_TAIL, &tx->tail, sizeof tx->tail, 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (capmon_stream_tx_word(tx, CAPMON_STREAM_RX_WAITING) != 0)
        capmon_hostcall(CAPMON_STREAM_NOTIFY, tx->handle, 0, 0, 0, 0, 0);
    return (int64_t)n;
}

/* Ends the stream (the receiver reads what is left, then end of stream). */
static inline int64_t capmon_stream_close(uint64_t handle)
{
    return capmon_hostcall(CAPMON_STREAM_CLOSE, handle, 0, 0, 0, 0, 0);
}

/* Registers `ring` (len bytes of this cVM's memory, 8-aligned, never used otherwise) as the
 * ring of stream `name`; 0 or -CAPMON_E*. */
static inline int64_t capmon_stream_register(const char *name, void *ring, size_t len, struct capmon_stream_rx *rx)
{
    int64_t r;
    if (len <= CAPMON_STREAM_HEADER)
        return -CAPMON_EINVAL;
    r = capmon_hostcall(CAPMON_STREAM_REGISTER, (uint64_t)name, capmon_strlen(name), (uint64_t)ring, len, 0, 0);
    if (r < 0)
        return r;
    rx->ring = (volatile uint64_t *)ring;
    rx->handle = (uint64_t)r;
    rx->head = 0;
    rx->capacity = len - CAPMON_STREAM_HEADER;
    return 0;
}

/* Copies up to len bytes out of the stream: the count, 0 at its end, -CAPMON_EAGAIN when
 * nothing is there yet. */
static inline int64_t capmon_stream_read(struct capmon_stream_rx *rx, void *out, size_t len)
{
    size_t done = 0;
    while (done < len) {
        uint64_t ended = rx->ring[CAPMON_STREAM_ENDED], tail, avail, pos, n, i;
        const volatile uint8_t *data = (const volatile uint8_t *)rx->ring + CAPMON_STREAM_HEADER;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        tail = rx->ring[CAPMON_STREAM_TAIL];
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail = tail - rx->head;
        if (avail > rx->capacity)
            return -CAPMON_EINVAL;
        if (avail == 0) {
            if (done > 0 || ended != 0)
                break;
            return -CAPMON_EAGAIN;
        }
        pos = rx->head % rx->capacity;
        n = avail < rx->capacity - pos ? avail : rx->capacity - pos;
        if (n > len - done)
            n = len - done;
        for (i = 0; i < n; i++)
            ((uint8_t *)out)[done + i] = data[pos + i];
        done += n;
        rx->head += n;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rx->ring[CAPMON_STREAM_HEAD] = rx->head;
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (rx->ring[CAPMON_STREAM_TX_WAITING] != 0)
            capmon_hostcall(CAPMON_STREAM_NOTIFY, rx->handle, 0, 0, 0, 0, 0);
    }
    return (int64_t)done;
}

/* The cVM's main, called by start.c's _start with the manifest's arguments (argv[0] is the
 * cVM's name); its return value is the exit code. */
int main(int argc, char **argv);

#endif /* CAPMON_H */
