/*
 * hello-c: the C demo cVM. Prints its argument count and a product computed at run time,
 * then exits 0:
 *
 *   hello from C: argc=<n>, 6 * 7 = 42
 *
 * Built by capmon-run (qemu/src/cvm_build.rs) with the Debian cross gcc, cvms/sdk/c/start.c
 * and cvms/sdk/cvm.ld; see cvms/sdk/include/capmon.h for the command line.
 */
#include "capmon.h"

/*
 * A table of pointers: the linker cannot know where the image will be loaded, so each entry
 * becomes an R_*_RELATIVE relocation the monitor applies, which keeps the C image exercising
 * the loader's relocation path like the Rust ones do. Not static and not const, so the
 * compiler cannot fold the strings into the code and drop the table.
 */
const char *hello_parts[] = { "hello from C: argc=", ", 6 * 7 = " };

int main(int argc, char **argv)
{
    /* volatile: the multiplication happens in the cVM, not in the compiler. */
    volatile int six = 6;
    struct capmon_line line = { .len = 0 };

    (void)argv;
    capmon_line_str(&line, hello_parts[0]);
    capmon_line_i64(&line, argc);
    capmon_line_str(&line, hello_parts[1]);
    capmon_line_i64(&line, six * 7);
    capmon_line_char(&line, '\n');
    capmon_line_flush(&line);
    return 0;
}
