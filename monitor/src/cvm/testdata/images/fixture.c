/*
 * A tiny freestanding cVM image: the loader's test fixture (see build.sh).
 *
 * The pointer tables are initialised with addresses, so a static PIE needs one
 * R_*_RELATIVE relocation per entry; the tests read the symbol table to check
 * that each slot points at the right object after loading. Every symbol the
 * tests look up is global (kept in .symtab) and `used` (not optimised away).
 */
#define USED __attribute__((used))

/* .rodata */
USED const char fixture_greeting[] = "hello from a cVM";
USED const char fixture_farewell[] = "goodbye";

/* .data */
USED long fixture_counter = 42;

/* .bss */
USED long fixture_scratch[64];

USED __attribute__((noinline)) long fixture_add(long a, long b) { return a + b; }
USED __attribute__((noinline)) long fixture_sub(long a, long b) { return a - b; }

/* Function pointers: .data.rel.ro, which image.ld puts in the read-write segment. */
USED long (*const fixture_ops[])(long, long) = { fixture_add, fixture_sub };

/* Data pointers into .rodata, .data and .bss, one of them past the start of its object. */
USED const void *fixture_pointers[] = {
    fixture_greeting,
    fixture_farewell,
    &fixture_counter,
    &fixture_scratch[3],
};

__attribute__((section(".text.start"), noreturn)) void _start(void)
{
    long acc = 0;
    for (unsigned i = 0; i < sizeof fixture_ops / sizeof fixture_ops[0]; i++)
        acc = fixture_ops[i](acc, fixture_counter);
    fixture_scratch[0] = acc + *(const char *)fixture_pointers[0];
    for (;;)
        __asm__ volatile("wfi"); /* the same mnemonic on AArch64 and RISC-V */
}
