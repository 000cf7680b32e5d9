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
};

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

/* The cVM's main, called by start.c's _start with the manifest's arguments (argv[0] is the
 * cVM's name); its return value is the exit code. */
int main(int argc, char **argv);

#endif /* CAPMON_H */
