/*
 * start.c: the entry point of a C cVM, and the few libc functions the compiler may call
 * on its own (it emits memcpy/memset/memmove/memcmp calls for struct copies and
 * initialisation even with -ffreestanding).
 *
 * The monitor enters at _start (cvm.ld puts .text.entry first) with argc in x0/a0, argv in
 * x1/a1 and the stack pointer 16-byte aligned: already a C call, so _start is a C function.
 */
#include "capmon.h"

__attribute__((noreturn, used, section(".text.entry"))) void _start(long argc, char **argv)
{
    capmon_exit(main((int)argc, argv));
}

/*
 * The loops below must not be turned back into calls to themselves: GCC recognises them as
 * memset/memcpy idioms unless told not to.
 */
#define CAPMON_NO_BUILTIN __attribute__((optimize("no-tree-loop-distribute-patterns")))

CAPMON_NO_BUILTIN void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

CAPMON_NO_BUILTIN void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

CAPMON_NO_BUILTIN void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

CAPMON_NO_BUILTIN int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n--; x++, y++) {
        if (*x != *y)
            return *x - *y;
    }
    return 0;
}
