/*
 * kv-client-c: a C client of the CP_Call key-value service `kv` (capmon.h's capmon_call_*):
 * puts four keys of its own, reads them back, says it is done — each a sealed-pair branch into
 * kv's code, no monitor on the path:
 *
 *   kv-client-c: 4 puts, 4 gets through CP_Call from C, every value right
 */
#include "capmon.h"

static void say(const char *what, int64_t r)
{
    capmon_report("kv-client-c: ", what, r);
}

/* Imports `name` into `slot`, waiting (up to a second) for kv to export it. */
static int64_t import(const char *name, uint64_t slot, struct capmon_cp_call *c)
{
    int64_t r = -CAPMON_EAGAIN;
    int i;

    for (i = 0; i < 1000 && r == -CAPMON_EAGAIN; i++) {
        r = capmon_call_import(name, slot, c);
        if (r == -CAPMON_EAGAIN)
            capmon_sleep_ns(1000000);
    }
    return r;
}

int main(int argc, char **argv)
{
    struct capmon_cp_call put, get, done;
    uint64_t k, v;
    int64_t r;

    (void)argc;
    (void)argv;
    if ((r = import("kv-put", 0, &put)) || (r = import("kv-get", 2, &get)) ||
        (r = import("kv-done", 4, &done))) {
        say("import failed", r);
        return 1;
    }
    for (k = 300; k < 304; k++) {
        r = capmon_call(&put, k, k * 1000 + 7, 0, 0, &v);
        if (r != 0 || v != 1) {
            say("kv-put failed", r);
            return 1;
        }
    }
    for (k = 300; k < 304; k++) {
        r = capmon_call(&get, k, 0, 0, 0, &v);
        if (r != 0 || v != k * 1000 + 7) {
            say("kv-get returned a wrong value", r);
            return 1;
        }
    }
    r = capmon_call(&done, 0, 0, 0, 0, &v);
    if (r != 0) {
        say("kv-done failed", r);
        return 1;
    }
    say("4 puts, 4 gets through CP_Call from C, every value right", 0);
    return 0;
}
