/*
 * consumer-c: the ipc demo's C consumer. Imports the monitor buffer `mailbox` read-only through
 * capmon.h's CP_File calls, waits for the producer's last message, reads it directly through
 * the capability (no hostcall per access) and prints it:
 *
 *   consumer-c: mailbox (4096 bytes) says "done: 8 messages and one run-time export"
 */
#include "capmon.h"

#define SEQ 0
#define LEN 8
#define TEXT 16
#define DONE 10

static uint64_t get_u64(const struct capmon_cp_file *f, uint64_t off)
{
    uint64_t v = 0;
    capmon_cp_file_read(f, off, &v, sizeof v);
    return v;
}

int main(int argc, char **argv)
{
    struct capmon_cp_file mailbox;
    struct capmon_line line = { .len = 0 };
    char text[64];
    uint64_t len;
    int64_t r;
    int i;

    (void)argc;
    (void)argv;
    r = capmon_cp_import("mailbox", 0, &mailbox);
    if (r < 0) {
        capmon_line_str(&line, "consumer-c: import mailbox failed: ");
        capmon_line_i64(&line, r);
        capmon_line_char(&line, '\n');
        capmon_line_flush(&line);
        return 1;
    }
    for (i = 0; i < 20000 && get_u64(&mailbox, SEQ) < DONE; i++)
        capmon_sleep_ns(1000000);
    if (get_u64(&mailbox, SEQ) < DONE) {
        capmon_puts("consumer-c: the producer never finished\n");
        return 1;
    }
    len = get_u64(&mailbox, LEN);
    if (len > sizeof text)
        len = sizeof text;
    capmon_cp_file_read(&mailbox, TEXT, text, len);
    capmon_line_str(&line, "consumer-c: mailbox (");
    capmon_line_i64(&line, (int64_t)capmon_cp_file_len(&mailbox));
    capmon_line_str(&line, " bytes) says \"");
    for (uint64_t k = 0; k < len; k++)
        capmon_line_char(&line, text[k]);
    capmon_line_str(&line, "\"\n");
    capmon_line_flush(&line);
    return 0;
}
