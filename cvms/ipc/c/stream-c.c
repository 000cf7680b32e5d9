/*
 * stream-c: CP_Stream from C (capmon.h's capmon_stream_*). argv[1] picks the end of stream
 * `c-bytes`: "send" writes 10000 bytes of a pattern in writes of 1 to 97 bytes, blocking in
 * capmon_cp_poll while the 512-byte ring is full; "recv" registers the ring, reads until the
 * end of the stream and checks every byte:
 *
 *   stream-c: received 10000 bytes from C, every byte right
 */
#include "capmon.h"

#define TOTAL 10000
#define TIMEOUT_NS 5000000000ull

static uint8_t ring[512] __attribute__((aligned(4096)));

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 7 + 3);
}

static int say(const char *what, int64_t r)
{
    capmon_report("stream-c: ", what, r);
    return r == 0 ? 0 : 1;
}

static int send(void)
{
    struct capmon_stream_tx tx;
    uint8_t chunk[97];
    uint64_t sent = 0, size = 1, i;
    int64_t r = -CAPMON_EAGAIN;
    int tries;

    for (tries = 0; tries < 2000 && r == -CAPMON_EAGAIN; tries++) {
        r = capmon_stream_open("c-bytes", 0, &tx);
        if (r == -CAPMON_EAGAIN)
            capmon_sleep_ns(1000000);
    }
    if (r != 0)
        return say("open failed", r);
    while (sent < TOTAL) {
        uint64_t n = TOTAL - sent < size ? TOTAL - sent : size;
        for (i = 0; i < n; i++)
            chunk[i] = pattern(sent + i);
        r = capmon_stream_write(&tx, chunk, n);
        if (r < 0)
            return say("write failed", r);
        if (r == 0) {
            r = capmon_cp_poll(&tx.handle, 1, TIMEOUT_NS);
            if (r <= 0)
                return say("the receiver made no room", r);
            continue;
        }
        /* A partial write resends the rest with the same pattern offsets. */
        sent += (uint64_t)r;
        size = size % 97 + 1;
    }
    capmon_stream_close(tx.handle);
    return say("sent 10000 bytes", 0);
}

static int recv(void)
{
    struct capmon_stream_rx rx;
    uint8_t buf[128];
    uint64_t got = 0, i;
    int64_t r = capmon_stream_register("c-bytes", ring, sizeof ring, &rx);

    if (r != 0)
        return say("register failed", r);
    for (;;) {
        r = capmon_stream_read(&rx, buf, sizeof buf);
        if (r == -CAPMON_EAGAIN) {
            r = capmon_cp_poll(&rx.handle, 1, TIMEOUT_NS);
            if (r <= 0)
                return say("the sender went quiet", r);
            continue;
        }
        if (r < 0)
            return say("read failed", r);
        if (r == 0)
            break;
        for (i = 0; i < (uint64_t)r; i++)
            if (buf[i] != pattern(got + i))
                return say("a byte is wrong", -1);
        got += (uint64_t)r;
    }
    if (got != TOTAL)
        return say("the stream ended early", (int64_t)got);
    return say("received 10000 bytes from C, every byte right", 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == 's')
        return send();
    if (argc > 1 && argv[1][0] == 'r')
        return recv();
    return say("usage: stream-c send|recv", -1);
}
