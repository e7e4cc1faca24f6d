/*
 * gateway.c: two firewalls (headquarters and branch) in one process, each an ipsec_gateway from
 * its TOML configuration, wired together in memory through the C ABI in include/ipsec.h.
 *
 * Build from the repository root, with the library installed (see the README) or built:
 *   cc -std=c99 $(pkg-config --cflags ipsec) -o gateway examples/c/gateway.c \
 *      $(pkg-config --libs ipsec)
 *   ./gateway examples/configs/hq.toml examples/configs/branch.toml
 * (ffi/tests/c_gateway.rs installs the library, builds it the same way and runs it under
 * AddressSanitizer and valgrind.)
 *
 * The headquarters connects its tunnels; every packet one side transmits is handed to the other
 * as received, and a simulated clock jumps to the next deadline when nothing is in flight. The
 * gateways install and rekey their Child SAs themselves: this program never sees a key. It then
 * carries a UDP packet from a host on each LAN to a host on the other, shows a drop with its
 * reason code, rekeys the Child SA a packet arrived on (by its inbound SPI) and checks that the
 * next packet arrives on the new one, prints the counters, and exits 0 when all of that worked.
 */
#include "ipsec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_DATAGRAM = 65535, SECOND = 1000000 };

struct side {
    const char *label;
    ipsec_gateway *gw;
    uint16_t lan; /* the interface id of ethernet1/2 */
};

static uint64_t now_us = 1 * SECOND;
static uint8_t wire[MAX_DATAGRAM];

/* The library's diagnostic log: counted, and the warnings printed. */
static unsigned long log_lines;

static void on_log(void *user, ipsec_log_level level, const char *target, const char *line) {
    unsigned long *count = user;
    (*count)++;
    if (level <= IPSEC_LOG_WARN) {
        printf("log %s: %s\n", target, line);
    }
}

/* What a commit did to each object of the configuration. */
static void on_reload(void *user, ipsec_reload_item item, const char *name) {
    unsigned *kept = user;
    switch (item) {
    case IPSEC_RELOAD_GATEWAY_KEPT:
    case IPSEC_RELOAD_TUNNEL_KEPT:
    case IPSEC_RELOAD_INTERFACE_KEPT:
        (*kept)++;
        printf("hq: commit: %s unchanged\n", name);
        break;
    default:
        printf("hq: commit: %s changed (item %d)\n", name, (int)item);
        break;
    }
}

static void print_last_error(const char *what) {
    char msg[1024];
    ipsec_last_error(msg, sizeof msg);
    fprintf(stderr, "%s: %s\n", what, msg);
}

/* Reads a whole file into a malloc'd buffer; returns NULL on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int open_side(struct side *s, const char *label, const char *path, const char *lan_cidr) {
    memset(s, 0, sizeof *s);
    s->label = label;
    size_t len = 0;
    char *toml = read_file(path, &len);
    if (!toml) {
        return -1;
    }
    /* No NAT between the two here: UDP encapsulation lets ESP cross networks that drop
     * protocol 50, and keeps this program to one kind of datagram. */
    ipsec_gateway_options options;
    memset(&options, 0, sizeof options);
    options.force_udp_encapsulation = 1;
    ipsec_status st = ipsec_gateway_new(toml, len, &options, &s->gw);
    free(toml);
    if (st != IPSEC_OK) {
        print_last_error(path);
        return -1;
    }
    /* Certificates' validity dates are checked against the wall clock, which the library never
     * reads itself. */
    if (ipsec_gateway_set_wall_clock(s->gw, now_us, (uint64_t)time(NULL)) != IPSEC_OK ||
        ipsec_gateway_set_interface_address(s->gw, "ethernet1/2", lan_cidr) != IPSEC_OK ||
        ipsec_gateway_interface(s->gw, "ethernet1/2", &s->lan) != IPSEC_OK) {
        print_last_error(label);
        return -1;
    }
    return 0;
}

static void print_events(struct side *s) {
    ipsec_event ev;
    while (ipsec_gateway_poll_event(s->gw, &ev) == IPSEC_OK) {
        printf("%s: event %d %s: %s\n", s->label, (int)ev.kind, ev.name, ev.text);
    }
}

/* Moves every queued packet of `from` to `to`; returns how many moved, or -1 on error. */
static int deliver_all(struct side *from, struct side *to) {
    int moved = 0;
    ipsec_gateway_transmit t;
    ipsec_status st;
    while ((st = ipsec_gateway_poll_transmit(from->gw, wire, sizeof wire, &t)) == IPSEC_OK) {
        ipsec_action a;
        if (ipsec_gateway_handle_datagram(to->gw, now_us, &t.destination, &t.source, wire, t.len,
                                          &a) != IPSEC_OK) {
            print_last_error("handle_datagram");
            return -1;
        }
        moved++;
    }
    if (st != IPSEC_NONE) {
        print_last_error("poll_transmit");
        return -1;
    }
    return moved;
}

/* Runs the network until nothing is in flight and no deadline falls before `until_us`. */
static int pump(struct side *a, struct side *b, uint64_t until_us) {
    for (int round = 0; round < 100000; round++) {
        int m1 = deliver_all(a, b), m2 = deliver_all(b, a);
        if (m1 < 0 || m2 < 0) {
            return -1;
        }
        print_events(a);
        print_events(b);
        if (m1 + m2 > 0) {
            continue;
        }
        uint64_t ta = UINT64_MAX, tb = UINT64_MAX;
        ipsec_gateway_poll_timeout(a->gw, &ta);
        ipsec_gateway_poll_timeout(b->gw, &tb);
        uint64_t next = ta < tb ? ta : tb;
        if (next > until_us) {
            now_us = until_us;
            return 0;
        }
        if (next > now_us) {
            now_us = next;
        }
        ipsec_gateway_handle_timeout(a->gw, now_us);
        ipsec_gateway_handle_timeout(b->gw, now_us);
    }
    fprintf(stderr, "pump: no quiet after 100000 rounds\n");
    return -1;
}

/* One's-complement sum over `len` bytes (RFC 1071). */
static uint16_t checksum(const uint8_t *p, size_t len) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    if (len & 1) {
        sum += (uint32_t)(p[len - 1] << 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

/* Writes an IPv4/UDP packet (port 40000 -> 53) carrying `msg` at `p`; returns its length. */
static size_t udp_packet(uint8_t *p, const uint8_t src[4], const uint8_t dst[4], const char *msg) {
    size_t n = strlen(msg), len = 28 + n;
    uint8_t h[28] = {0x45, 0, (uint8_t)(len >> 8), (uint8_t)len, 0, 1, 0, 0, 64, 17};
    memcpy(h + 12, src, 4);
    memcpy(h + 16, dst, 4);
    uint16_t sum = checksum(h, 20);
    h[10] = (uint8_t)(sum >> 8);
    h[11] = (uint8_t)sum;
    h[20] = 40000 >> 8;
    h[21] = 40000 & 0xff;
    h[23] = 53;
    h[24] = (uint8_t)((8 + n) >> 8);
    h[25] = (uint8_t)(8 + n);
    memcpy(p, h, 28);
    memcpy(p + 28, msg, n);
    return len;
}

/* Sends `msg` from a host on `from`'s LAN to one on `to`'s, through the tunnel. Returns the
 * inbound SPI it arrived on at `to`, or 0 on failure. */
static uint32_t carry(struct side *from, struct side *to, const uint8_t src[4], const uint8_t dst[4],
                      const char *msg) {
    uint8_t buf[IPSEC_HEADROOM + 256 + IPSEC_TAILROOM];
    uint8_t sent[256];
    size_t len = udp_packet(buf + IPSEC_HEADROOM, src, dst, msg);
    memcpy(sent, buf + IPSEC_HEADROOM, len);
    ipsec_action a;
    if (ipsec_gateway_handle_inner(from->gw, now_us, from->lan, buf, sizeof buf, IPSEC_HEADROOM,
                                   len, &a) != IPSEC_OK) {
        print_last_error("handle_inner");
        return 0;
    }
    if (a.kind != IPSEC_ACTION_SEND || a.protocol != 17) {
        fprintf(stderr, "%s: expected ESP in UDP, got action %d (drop %s)\n", from->label,
                (int)a.kind, ipsec_drop_reason_name(a.drop));
        return 0;
    }
    ipsec_action d;
    if (ipsec_gateway_handle_datagram(to->gw, now_us, &a.destination, &a.source, buf + a.offset,
                                      a.len, &d) != IPSEC_OK) {
        print_last_error("handle_datagram");
        return 0;
    }
    if (d.kind != IPSEC_ACTION_DELIVER || d.interface != to->lan || d.len != len ||
        memcmp(buf + a.offset + d.offset, sent, len) != 0) {
        fprintf(stderr, "%s: the packet did not come out of the LAN port intact (action %d)\n",
                to->label, (int)d.kind);
        return 0;
    }
    printf("esp %s -> %s: %zu bytes delivered on SPI %08X\n", from->label, to->label, len,
           (unsigned)d.inbound_spi);
    return d.inbound_spi;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HQ.toml BRANCH.toml\n", argv[0]);
        return 2;
    }
    printf("libipsec version %06X\n", (unsigned)ipsec_version());
    if (ipsec_version() >> 16 != IPSEC_VERSION_MAJOR) {
        fprintf(stderr, "built against ipsec.h %06X, running with another major version\n",
                (unsigned)IPSEC_VERSION);
        return 1;
    }
    if (ipsec_set_log_callback(on_log, &log_lines, IPSEC_LOG_DEBUG) != IPSEC_OK) {
        print_last_error("set_log_callback");
        return 1;
    }
    struct side hq, branch;
    int ok = 0;
    if (open_side(&hq, "hq", argv[1], "10.1.0.1/24") != 0 ||
        open_side(&branch, "branch", argv[2], "10.2.0.1/24") != 0) {
        ipsec_gateway_free(hq.gw);
        ipsec_gateway_free(branch.gw);
        return 1;
    }
    size_t tunnels = 0;
    if (ipsec_gateway_connect_all(hq.gw, now_us, &tunnels) != IPSEC_OK) {
        print_last_error("connect_all");
        goto out;
    }
    printf("hq: connecting %zu tunnel(s)\n", tunnels);
    if (pump(&hq, &branch, now_us + 10 * SECOND) != 0) {
        goto out;
    }

    const uint8_t hq_host[4] = {10, 1, 0, 5}, branch_host[4] = {10, 2, 0, 7};
    uint32_t spi = carry(&hq, &branch, hq_host, branch_host, "where is the printer?");
    if (!spi || !carry(&branch, &hq, branch_host, hq_host, "second floor")) {
        goto out;
    }

    /* No route: dropped, with its reason as a code and as PAN-OS's counter name. */
    uint8_t buf[IPSEC_HEADROOM + 256 + IPSEC_TAILROOM];
    const uint8_t nowhere[4] = {192, 168, 77, 1};
    size_t len = udp_packet(buf + IPSEC_HEADROOM, hq_host, nowhere, "lost");
    ipsec_action a;
    if (ipsec_gateway_handle_inner(hq.gw, now_us, hq.lan, buf, sizeof buf, IPSEC_HEADROOM, len,
                                   &a) != IPSEC_OK ||
        a.kind != IPSEC_ACTION_DROP || a.drop != IPSEC_DROP_NO_ROUTE) {
        fprintf(stderr, "hq: a packet without a route was not dropped as such\n");
        goto out;
    }
    printf("hq: dropped: %s\n", ipsec_drop_reason_name(a.drop));

    /* An admin rekeys the Child SA the packet arrived on; the next packet uses the new one. */
    if (ipsec_gateway_rekey_child_sa(branch.gw, now_us, spi) != IPSEC_OK) {
        print_last_error("rekey_child_sa");
        goto out;
    }
    if (pump(&hq, &branch, now_us + 10 * SECOND) != 0) {
        goto out;
    }
    uint32_t spi2 = carry(&hq, &branch, hq_host, branch_host, "and the stapler?");
    if (!spi2 || spi2 == spi) {
        fprintf(stderr, "branch: the rekeyed Child SA still carries the traffic\n");
        goto out;
    }
    printf("branch: rekeyed SPI %08X -> %08X\n", (unsigned)spi, (unsigned)spi2);
    if (ipsec_gateway_delete_child_sa(branch.gw, now_us, spi) != IPSEC_ERR_INVALID) {
        fprintf(stderr, "branch: deleting a replaced SA should be refused\n");
        goto out;
    }

    /* An admin commits hq's configuration again, unchanged: the tunnel keeps its SAs and the
     * next packet travels on the same one. Interface ids are numbered afresh by a commit. */
    size_t toml_len = 0;
    char *toml = read_file(argv[1], &toml_len);
    if (!toml) {
        goto out;
    }
    unsigned kept = 0;
    uint8_t policy_changed = 1;
    ipsec_status st = ipsec_gateway_reconfigure(hq.gw, now_us, toml, toml_len, on_reload, &kept,
                                                &policy_changed);
    free(toml);
    if (st != IPSEC_OK || ipsec_gateway_interface(hq.gw, "ethernet1/2", &hq.lan) != IPSEC_OK) {
        print_last_error("reconfigure");
        goto out;
    }
    uint32_t spi3 = carry(&hq, &branch, hq_host, branch_host, "and after the commit?");
    if (kept != 3 || policy_changed || spi3 != spi2) {
        fprintf(stderr, "hq: a commit without changes changed something\n");
        goto out;
    }
    printf("hq: committed, SPI %08X kept\n", (unsigned)spi3);

    ipsec_counters c;
    if (ipsec_gateway_counters(hq.gw, &c) != IPSEC_OK) {
        goto out;
    }
    printf("hq counters: encapsulated %llu decapsulated %llu delivered %llu %s %llu\n",
           (unsigned long long)c.encapsulated, (unsigned long long)c.decapsulated,
           (unsigned long long)c.delivered, ipsec_drop_reason_name(IPSEC_DROP_NO_ROUTE),
           (unsigned long long)c.drops[IPSEC_DROP_NO_ROUTE]);
    printf("log lines: %lu\n", log_lines);
    ok = c.encapsulated >= 3 && c.drops[IPSEC_DROP_NO_ROUTE] == 1 && log_lines > 0;
    if (ok) {
        printf("gateway example: OK\n");
    }
out:
    ipsec_gateway_free(hq.gw);
    ipsec_gateway_free(branch.gw);
    return ok ? 0 : 1;
}
