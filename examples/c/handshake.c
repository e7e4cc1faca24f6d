/*
 * handshake.c: two IPsec endpoints (headquarters and branch) in one process, wired together in
 * memory through the C ABI in include/ipsec.h.
 *
 * Build from the repository root (after `cargo build -p ipsec-ffi`), and run:
 *   cc -std=c99 -Iinclude -o handshake examples/c/handshake.c target/debug/libipsec.a
 *      -lpthread -ldl -lm
 *   ./handshake examples/configs/hq.toml examples/configs/branch.toml
 * (ffi/tests/c_program.rs does the same against the library `cargo test` builds.)
 *
 * The headquarters connects its tunnel "vpn-branch"; every datagram one side transmits is handed
 * to the other as received, and a simulated clock jumps to the next deadline when no datagram is
 * in flight. Each side installs its Child SAs into its own ESP table as the events arrive. The
 * program prints each event, then sends one IPv4 packet through the tunnel each way (and a
 * tampered copy, which must be dropped), and exits 0 when all of that worked.
 */
#include "ipsec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DATAGRAM = 65535, MAX_ROUNDS = 200 };

struct side {
    const char *label;
    ipsec_endpoint *ep;
    ipsec_esp_table *esp;
    int ike_up;
    int child_up;
    uint32_t inbound_spi;
    uint32_t outbound_spi;
};

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
    if (ferror(f)) {
        perror(path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int open_side(struct side *s, const char *label, const char *path) {
    memset(s, 0, sizeof *s);
    s->label = label;
    size_t len = 0;
    char *toml = read_file(path, &len);
    if (!toml) {
        return -1;
    }
    ipsec_status st = ipsec_endpoint_new(toml, len, &s->ep);
    free(toml);
    if (st != IPSEC_OK) {
        print_last_error(path);
        return -1;
    }
    if (ipsec_esp_table_new(&s->esp) != IPSEC_OK) {
        print_last_error("esp_table_new");
        return -1;
    }
    return 0;
}

static const char *kind_name(ipsec_event_kind k) {
    switch (k) {
    case IPSEC_EVENT_IKE_SA_UP: return "IKE_SA_UP";
    case IPSEC_EVENT_IKE_SA_DOWN: return "IKE_SA_DOWN";
    case IPSEC_EVENT_CHILD_SA_UP: return "CHILD_SA_UP";
    case IPSEC_EVENT_CHILD_SA_DOWN: return "CHILD_SA_DOWN";
    case IPSEC_EVENT_PHASE1_FAILED: return "PHASE1_FAILED";
    case IPSEC_EVENT_PHASE2_FAILED: return "PHASE2_FAILED";
    case IPSEC_EVENT_NO_GATEWAY: return "NO_GATEWAY";
    case IPSEC_EVENT_CHILD_SA_OUTBOUND: return "CHILD_SA_OUTBOUND";
    /* Reported by an ipsec_gateway only (examples/c/gateway.c). */
    case IPSEC_EVENT_INSTALL_FAILED: return "INSTALL_FAILED";
    case IPSEC_EVENT_LIFETIME: return "LIFETIME";
    case IPSEC_EVENT_TUNNEL_DOWN: return "TUNNEL_DOWN";
    case IPSEC_EVENT_TUNNEL_UP: return "TUNNEL_UP";
    }
    return "UNKNOWN";
}

/* Moves every queued datagram from `from` to `to`; returns how many, or -1 on error. */
static int shuttle(struct side *from, struct side *to, uint64_t now_us, uint8_t *buf) {
    int moved = 0;
    for (;;) {
        ipsec_transmit t;
        ipsec_status st = ipsec_endpoint_poll_transmit(from->ep, buf, MAX_DATAGRAM, &t);
        if (st == IPSEC_NONE) {
            return moved;
        }
        if (st != IPSEC_OK) {
            print_last_error("poll_transmit");
            return -1;
        }
        /* The receiver got it on the sender's destination, from the sender's source. */
        ipsec_received what;
        st = ipsec_endpoint_handle_datagram(to->ep, now_us, &t.remote, &t.local, buf, t.len, &what);
        if (st != IPSEC_OK) {
            print_last_error("handle_datagram");
            return -1;
        }
        printf("%s -> %s: %zu bytes on port %u\n", from->label, to->label, t.len,
               (unsigned)t.remote.port);
        moved++;
    }
}

static int drain_events(struct side *s, uint64_t now_us) {
    for (;;) {
        ipsec_event e;
        ipsec_status st = ipsec_endpoint_poll_event(s->ep, &e);
        if (st == IPSEC_NONE) {
            return 0;
        }
        if (st != IPSEC_OK) {
            print_last_error("poll_event");
            return -1;
        }
        printf("%s: %s %s: %s\n", s->label, kind_name(e.kind), e.name, e.text);
        if (strlen(e.text) != e.text_len) {
            fprintf(stderr, "%s: text_len %zu disagrees with the string\n", s->label, e.text_len);
            return -1;
        }
        if (e.kind == IPSEC_EVENT_IKE_SA_UP) {
            s->ike_up = 1;
        } else if (e.kind == IPSEC_EVENT_CHILD_SA_UP) {
            s->child_up = 1;
            s->inbound_spi = e.inbound_spi;
            s->outbound_spi = e.outbound_spi;
            /* Right after polling the event: the table takes the SA (keys included) from it,
             * receive-only when the event says outbound_later. */
            if (ipsec_esp_table_install(s->esp, s->ep, now_us) != IPSEC_OK) {
                print_last_error("esp_table_install");
                return -1;
            }
        } else if (e.kind == IPSEC_EVENT_CHILD_SA_OUTBOUND) {
            ipsec_esp_table_activate(s->esp, e.inbound_spi);
        } else if (e.kind == IPSEC_EVENT_CHILD_SA_DOWN) {
            /* Stops sending on it now; it still receives for linger_ms (after a rekey). */
            ipsec_esp_table_retire(s->esp, now_us, e.inbound_spi, e.linger_ms);
        }
    }
}

/* Writes a 28-byte IPv4 ICMP echo request from src to dst (last octets after 10.x.0.) */
static size_t ipv4_echo(uint8_t *p, uint8_t src_net, uint8_t dst_net) {
    static const uint8_t tmpl[28] = {
        0x45, 0, 0, 28, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 1,
        8, 0, 0xf7, 0xfe, 0, 1, 0, 0,
    };
    memcpy(p, tmpl, sizeof tmpl);
    p[13] = src_net;
    p[17] = dst_net;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) {
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10] = (uint8_t)(~sum >> 8);
    p[11] = (uint8_t)~sum;
    return sizeof tmpl;
}

/* Sends one packet from `from` (tunnel `tunnel`) to `to`, checks it arrives intact and that a
 * tampered copy is dropped. */
static int esp_round_trip(struct side *from, struct side *to, const char *tunnel,
                          uint8_t src_net, uint8_t dst_net, uint64_t now_us, uint8_t *buf) {
    uint8_t inner[64], tampered[2048];
    size_t n = ipv4_echo(inner, src_net, dst_net);
    ipsec_esp_transmit tx;
    if (ipsec_esp_table_encapsulate(from->esp, now_us, tunnel, inner, n, buf, MAX_DATAGRAM, &tx) !=
        IPSEC_OK) {
        print_last_error("esp_table_encapsulate");
        return -1;
    }
    if (tx.len > sizeof tampered) {
        return -1;
    }
    /* First a copy with one bit flipped in the ICV: the integrity check must reject it (and
     * must not advance the replay window, or the genuine packet would then be dropped). */
    memcpy(tampered, buf, tx.len);
    tampered[tx.len - 1] ^= 1;
    ipsec_esp_delivered d;
    ipsec_status st = ipsec_esp_table_decapsulate(to->esp, now_us, tampered, tx.len, &d);
    char why[256];
    ipsec_last_error(why, sizeof why);
    if (st != IPSEC_ERR_DROPPED) {
        fprintf(stderr, "tampered ESP packet was not dropped (status %d)\n", (int)st);
        return -1;
    }
    printf("esp %s -> %s: tampered copy dropped: %s\n", from->label, to->label, why);
    if (ipsec_esp_table_decapsulate(to->esp, now_us, buf, tx.len, &d) != IPSEC_OK) {
        print_last_error("esp_table_decapsulate");
        return -1;
    }
    if (d.len != n || memcmp(buf + d.offset, inner, n) != 0 || d.spi != from->outbound_spi) {
        fprintf(stderr, "ESP %s -> %s: inner packet differs\n", from->label, to->label);
        return -1;
    }
    printf("esp %s -> %s: %zu bytes SPI %08X seq %llu, inner %zu bytes intact\n", from->label,
           to->label, tx.len, (unsigned)tx.spi, (unsigned long long)d.sequence, d.len);
    return 0;
}

/* The earliest deadline of both sides, or UINT64_MAX when neither has one. */
static uint64_t next_deadline(struct side *a, struct side *b) {
    uint64_t best = UINT64_MAX, t;
    if (ipsec_endpoint_poll_timeout(a->ep, &t) == IPSEC_OK && t < best) {
        best = t;
    }
    if (ipsec_endpoint_poll_timeout(b->ep, &t) == IPSEC_OK && t < best) {
        best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HQ.toml BRANCH.toml\n", argv[0]);
        return 2;
    }
    printf("libipsec version %06x\n", (unsigned)ipsec_version());

    struct side hq, branch;
    if (open_side(&hq, "hq", argv[1]) != 0 || open_side(&branch, "branch", argv[2]) != 0) {
        return 1;
    }
    uint8_t *buf = malloc(MAX_DATAGRAM);
    int rc = 1;
    uint64_t now_us = 1000000;
    if (!buf) {
        goto out;
    }
    if (ipsec_endpoint_connect(hq.ep, now_us, "vpn-branch") != IPSEC_OK) {
        print_last_error("connect");
        goto out;
    }

    for (int round = 0; round < MAX_ROUNDS; round++) {
        int a = shuttle(&hq, &branch, now_us, buf);
        int b = shuttle(&branch, &hq, now_us, buf);
        if (a < 0 || b < 0 || drain_events(&hq, now_us) != 0 || drain_events(&branch, now_us) != 0) {
            goto out;
        }
        if (hq.ike_up && hq.child_up && branch.ike_up && branch.child_up) {
            break;
        }
        if (a == 0 && b == 0) {
            /* Nothing in flight: jump the clock to the next deadline. */
            uint64_t t = next_deadline(&hq, &branch);
            if (t == UINT64_MAX) {
                fprintf(stderr, "stalled: nothing in flight and no deadline\n");
                goto out;
            }
            now_us = t > now_us ? t : now_us;
            if (ipsec_endpoint_handle_timeout(hq.ep, now_us) != IPSEC_OK ||
                ipsec_endpoint_handle_timeout(branch.ep, now_us) != IPSEC_OK) {
                print_last_error("handle_timeout");
                goto out;
            }
        }
    }

    if (!(hq.ike_up && hq.child_up && branch.ike_up && branch.child_up)) {
        fprintf(stderr, "tunnel did not come up within %d rounds\n", MAX_ROUNDS);
        goto out;
    }
    if (hq.inbound_spi != branch.outbound_spi || branch.inbound_spi != hq.outbound_spi) {
        fprintf(stderr, "Child SA SPIs disagree\n");
        goto out;
    }
    printf("tunnel up: hq SPI in %08X out %08X, branch SPI in %08X out %08X\n",
           (unsigned)hq.inbound_spi, (unsigned)hq.outbound_spi, (unsigned)branch.inbound_spi,
           (unsigned)branch.outbound_spi);
    /* HQ's LAN is 10.1.0.0/24, the branch's 10.2.0.0/24. */
    if (esp_round_trip(&hq, &branch, "vpn-branch", 1, 2, now_us, buf) != 0 ||
        esp_round_trip(&branch, &hq, "vpn-hq", 2, 1, now_us, buf) != 0) {
        goto out;
    }
    rc = 0;

out:
    free(buf);
    ipsec_esp_table_free(hq.esp);
    ipsec_esp_table_free(branch.esp);
    ipsec_endpoint_free(hq.ep);
    ipsec_endpoint_free(branch.ep);
    return rc;
}
