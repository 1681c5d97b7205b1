/*
 * creader: the chat benchmark's load-generator worker in C (TMI mode only).
 *
 * Same contract as loadgen.py, at a fraction of its CPU per delivery:
 *
 *     creader '<json config>'        (the config run.py gives loadgen.py)
 *     gcc -O2 -Wall -Wextra -o build/creader creader.c
 *
 * Opens `count` connections to one room (connection i -> target (first_index+i) % T,
 * source address ((first_index+i) / T) % S, bound with IP_BIND_ADDRESS_NO_PORT), at most
 * `inflight` connects/handshakes/joins outstanding, over WebSocket (`GET /`, subprotocol
 * `irc`, masked client frames) or plain TCP IRC. Anonymous login: optional
 * `CAP REQ :<caps>`, `NICK justinfan<seed*1000000+first_index+i>`, `JOIN #<channel>`;
 * a connection is joined once ` 366 ` shows up in its stream.
 *
 * JSON lines on stdout, commands on stdin (polled in the same epoll set):
 *   -> {"event":"connected",...}   once every connection is joined, failed or timed out
 *   <- start                        reset the counters (a measurement phase begins)
 *   <- stop                         -> {"event":"phase",deliveries,latencies_us,...}
 *   <- status                       -> {"event":"status",alive,deliveries}
 *   <- quit (or EOF)                close everything and exit
 *
 * Counting: a delivery is one ` PRIVMSG #` in the received bytes, found with one
 * memchr('P') pass that also spots `PING :` (answered with `PONG :tmi.twitch.tv`, framed
 * for WS). A tail of the previous read's last 9 bytes catches the pattern across read
 * boundaries. Server frames are unmasked and counted raw, frame headers included, like
 * loadgen.py does: a WS frame header can only split a pattern at a frame boundary, and
 * the server ends every frame with a whole IRC line, so this does not happen in practice.
 * `samplers` connections spread evenly over the process's connections (i with
 * i * samplers mod count < samplers; spread, so that they join at different times and sit
 * at different places in the servers' fan-out order) also parse `bt=<16-20 digits>` (send
 * time, ns since the epoch) in complete lines and record now_us - bt/1000 (microseconds).
 *
 * Reads: level-triggered epoll, one 64 KiB buffer; recv is repeated while it fills the
 * buffer, and a short read ends the turn (level triggering reports any rest again), which
 * saves the extra recv returning EAGAIN on nearly every event.
 *
 * Two kernel-cost savers (measured on the 2-core VM, 2,000 connections: reader CPU per
 * delivery 7.6 -> 2.7 us at 10 msg/s and 1.1 -> 0.6 us at 100 msg/s, machine softirq
 * down too; latency unchanged within noise):
 *  - batch_us (default 1000): after an epoll round that did not fill the event array,
 *    sleep this long before collecting ready sockets again, so one wakeup serves a whole
 *    fan-out burst instead of a few sockets. Adds at most batch_us to measured latency.
 *  - TCP_QUICKACK off before reading (config "quickack": true keeps quick ACKs): a reader
 *    that never sends otherwise ACKs every read at once, a full loopback transmit charged
 *    to it; with delayed ACKs one ACK covers several reads. The chat server sets
 *    TCP_NODELAY (asyncio default), so delayed ACKs do not stall it through Nagle.
 * Environment overrides for experiments: CREADER_BATCH_US=<us>, CREADER_QUICKACK=1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define RBUF (64 * 1024)
#define JOIN_BUF_MAX 65536
#define SAMPLE_KEEP 4096
#define STDIN_TAG UINT64_MAX

static const char DELIVERY[] = " PRIVMSG #"; /* 10 bytes */
#define DLEN 10
#define TLEN (DLEN - 1)

/* ---- tiny JSON reader (enough for run.py's flat config) ------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jval {
    enum jtype t;
    double num;
    char *str;          /* J_STR */
    struct jval *items; /* J_ARR / J_OBJ values */
    char **keys;        /* J_OBJ keys */
    size_t n;
} jval;

_Noreturn static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("creader: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die("out of memory");
    return q;
}

static const char *jp; /* parse cursor */

static void jws(void) {
    while (*jp == ' ' || *jp == '\t' || *jp == '\n' || *jp == '\r') jp++;
}

static char *jstring(void) {
    if (*jp != '"') die("config: expected a string at '%.20s'", jp);
    jp++;
    size_t cap = 16, len = 0;
    char *s = xrealloc(NULL, cap);
    while (*jp != '"') {
        if (!*jp) die("config: unterminated string");
        char c = *jp++;
        if (c == '\\') {
            char e = *jp++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *jp++;
                    v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
                }
                if (v > 0x7f) die("config: non-ASCII \\u escape unsupported");
                c = (char)v;
                break;
            }
            case '\0': die("config: bad escape");
            default: c = e; /* \" \\ \/ */
            }
        }
        if (len + 2 > cap) s = xrealloc(s, cap *= 2);
        s[len++] = c;
    }
    jp++;
    s[len] = 0;
    return s;
}

static void jvalue(jval *v) {
    jws();
    memset(v, 0, sizeof *v);
    if (*jp == '{' || *jp == '[') {
        int obj = *jp == '{';
        char close = obj ? '}' : ']';
        v->t = obj ? J_OBJ : J_ARR;
        jp++;
        jws();
        if (*jp == close) { jp++; return; }
        for (;;) {
            v->items = xrealloc(v->items, (v->n + 1) * sizeof *v->items);
            if (obj) {
                jws();
                v->keys = xrealloc(v->keys, (v->n + 1) * sizeof *v->keys);
                v->keys[v->n] = jstring();
                jws();
                if (*jp++ != ':') die("config: expected ':'");
            }
            jvalue(&v->items[v->n++]);
            jws();
            if (*jp == ',') { jp++; continue; }
            if (*jp == close) { jp++; return; }
            die("config: expected ',' or '%c' at '%.20s'", close, jp);
        }
    } else if (*jp == '"') {
        v->t = J_STR;
        v->str = jstring();
    } else if (!strncmp(jp, "true", 4) || !strncmp(jp, "false", 5)) {
        v->t = J_BOOL;
        v->num = *jp == 't';
        jp += *jp == 't' ? 4 : 5;
    } else if (!strncmp(jp, "null", 4)) {
        v->t = J_NULL;
        jp += 4;
    } else {
        char *end;
        v->t = J_NUM;
        v->num = strtod(jp, &end);
        if (end == jp) die("config: bad value at '%.20s'", jp);
        jp = end;
    }
}

static const jval *jget(const jval *o, const char *key) {
    for (size_t i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static const jval *jneed(const jval *o, const char *key, enum jtype t) {
    const jval *v = jget(o, key);
    if (!v || v->t != t) die("config: key '%s' missing or of the wrong type", key);
    return v;
}

/* ---- state ------------------------------------------------------------------------ */

enum { S_FREE, S_CONNECTING, S_HANDSHAKE, S_JOINING, S_COUNTING, S_CLOSED };

typedef struct conn {
    int fd;
    uint8_t state;
    uint8_t sampler;
    uint8_t tlen;     /* bytes in tail */
    char tail[TLEN];  /* last bytes of the previous read (pattern across reads) */
    int slot;         /* position in the in-flight array while connecting */
    double started;   /* monotonic seconds, while connecting */
    char *buf;        /* handshake/join buffer, then the samplers' partial line */
    size_t blen;
    char *out;        /* unsent bytes (rare: partial send) */
    size_t olen;
} conn;

static struct {
    struct sockaddr_in *targets;
    char **target_names; /* "host:port" for the Host header */
    size_t ntargets;
    struct in_addr *sources;
    size_t nsources;
    long count, first_index, samplers, inflight, seed;
    double connect_timeout, connect_deadline;
    long batch_us; /* pause between epoll rounds that did not fill the event array */
    int quickack0;
    int ws;
    const char *caps, *channel;
} cfg;

static struct {
    uint64_t deliveries, bytes, reads, closed, pings;
    int64_t *lat;
    size_t nlat, caplat;
} st;

static conn *conns;
static long *flight; /* conn indices in flight */
static long nflight, next_start, njoined, nalive;
static int ep;
static char rbuf[RBUF];

typedef struct { char key[64]; long n; } errcount;
static errcount *errs;
static size_t nerrs;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t rng_state;
static uint32_t rnd32(void) { /* xorshift64*: WS keys and masks need no crypto strength */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static void count_error(const char *key) {
    for (size_t i = 0; i < nerrs; i++)
        if (!strcmp(errs[i].key, key)) { errs[i].n++; return; }
    errs = xrealloc(errs, (nerrs + 1) * sizeof *errs);
    snprintf(errs[nerrs].key, sizeof errs[nerrs].key, "%s", key);
    errs[nerrs++].n = 1;
}

static const char *errname(int e) { /* the names Python's errno.errorcode gives */
    switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ECONNABORTED: return "ECONNABORTED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    default: {
        static char b[32];
        snprintf(b, sizeof b, "errno %d", e);
        return b;
    }
    }
}

/* ---- output ----------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c > 0x7e) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* ---- connections ------------------------------------------------------------------ */

static void flight_remove(conn *c) {
    long i = c->slot;
    flight[i] = flight[--nflight];
    conns[flight[i]].slot = (int)i;
    c->slot = -1;
}

static void release(conn *c) {
    if (c->fd >= 0) close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    free(c->buf);
    free(c->out);
    c->buf = c->out = NULL;
    c->blen = c->olen = 0;
}

/* A connection that has not joined fails: count why, free its in-flight slot. */
static void fail(conn *c, const char *why) {
    count_error(why);
    if (c->slot >= 0) flight_remove(c);
    release(c);
    c->state = S_CLOSED;
}

/* A counting connection closed. */
static void lost(conn *c) {
    st.closed++;
    nalive--;
    release(c);
    c->state = S_CLOSED;
}

static void ws_frame(const char *payload, size_t n, char *out, size_t *olen) {
    size_t h = 0;
    out[h++] = (char)0x81;
    if (n < 126) {
        out[h++] = (char)(0x80 | n);
    } else {
        out[h++] = (char)(0x80 | 126);
        out[h++] = (char)(n >> 8);
        out[h++] = (char)(n & 0xff);
    }
    uint32_t m = rnd32();
    char mask[4];
    memcpy(mask, &m, 4);
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < n; i++) out[h + i] = payload[i] ^ mask[i & 3];
    *olen = h + n;
}

/* Send, keeping what the socket does not take; 0 on success, -1 on error. */
static int send_all(conn *c, const char *data, size_t n) {
    if (c->olen == 0) {
        ssize_t k = send(c->fd, data, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            k = 0;
        }
        data += k;
        n -= (size_t)k;
        if (n == 0) return 0;
    }
    c->out = xrealloc(c->out, c->olen + n);
    memcpy(c->out + c->olen, data, n);
    c->olen += n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = (uint64_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

static int flush_out(conn *c) {
    while (c->olen) {
        ssize_t k = send(c->fd, c->out, c->olen, MSG_NOSIGNAL);
        if (k < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        memmove(c->out, c->out + k, c->olen - (size_t)k);
        c->olen -= (size_t)k;
    }
    free(c->out);
    c->out = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    return 0;
}

static int send_login(conn *c) {
    long gidx = cfg.first_index + (c - conns);
    char lines[1024], framed[1100];
    int n = 0;
    if (cfg.caps[0]) n += snprintf(lines, sizeof lines, "CAP REQ :%s\r\n", cfg.caps);
    n += snprintf(lines + n, sizeof lines - (size_t)n, "NICK justinfan%ld\r\nJOIN #%s\r\n",
                  cfg.seed * 1000000 + gidx, cfg.channel);
    if (n >= (int)sizeof lines) die("login lines too long");
    if (!cfg.ws) return send_all(c, lines, (size_t)n);
    size_t fl;
    ws_frame(lines, (size_t)n, framed, &fl);
    return send_all(c, framed, fl);
}

static int send_ws_request(conn *c) {
    long gidx = cfg.first_index + (c - conns);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[18];
    for (int i = 0; i < 16; i++) raw[i] = (unsigned char)rnd32();
    raw[16] = raw[17] = 0;
    char key[25];
    for (int i = 0, o = 0; i < 18; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        key[o++] = b64[v >> 18 & 63];
        key[o++] = b64[v >> 12 & 63];
        key[o++] = b64[v >> 6 & 63];
        key[o++] = b64[v & 63];
    }
    key[22] = key[23] = '=';
    key[24] = 0;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: irc\r\n\r\n",
                     cfg.target_names[gidx % (long)cfg.ntargets], key);
    return send_all(c, req, (size_t)n);
}

static void start_one(long i) {
    conn *c = &conns[i];
    long gidx = cfg.first_index + i;
    const struct sockaddr_in *dst = &cfg.targets[gidx % (long)cfg.ntargets];
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr = cfg.sources[(gidx / (long)cfg.ntargets) % (long)cfg.nsources]};
    c->sampler = cfg.count > 0 && (i * cfg.samplers) % cfg.count < cfg.samplers;
    c->slot = -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { c->state = S_CLOSED; count_error(errname(errno)); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(c->fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS)) {
        int e = errno;
        release(c);
        c->state = S_CLOSED;
        count_error(errname(e));
        return;
    }
    c->state = S_CONNECTING;
    c->started = mono();
    c->slot = (int)nflight;
    flight[nflight++] = i;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) fail(c, errname(errno));
}

static void on_connected(conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) { fail(c, errname(err)); return; }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = cfg.ws ? S_HANDSHAKE : S_JOINING;
    if ((cfg.ws ? send_ws_request(c) : send_login(c)) < 0) fail(c, errname(errno));
}

static void joined(conn *c) {
    free(c->buf);
    c->buf = NULL;
    c->blen = 0;
    c->state = S_COUNTING;
    c->tlen = 0;
    flight_remove(c);
    njoined++;
    nalive++;
}

/* Handshake and join: accumulate, look for the 101 response and then ` 366 `. */
static void on_setup_data(conn *c, const char *data, size_t n) {
    c->buf = xrealloc(c->buf, c->blen + n + 1);
    memcpy(c->buf + c->blen, data, n);
    c->blen += n;
    c->buf[c->blen] = 0;
    if (c->state == S_HANDSHAKE) {
        char *end = memmem(c->buf, c->blen, "\r\n\r\n", 4);
        if (!end) {
            if (c->blen > 8192) fail(c, "oversized handshake response");
            return;
        }
        if (c->blen < 12 || memcmp(c->buf, "HTTP/1.1 101", 12)) {
            char why[64] = "handshake refused: ";
            size_t w = strlen(why);
            for (size_t i = 0; i < c->blen && i < 40 && w < sizeof why - 1; i++)
                why[w++] = (c->buf[i] >= 0x20 && c->buf[i] < 0x7f) ? c->buf[i] : '.';
            why[w] = 0;
            fail(c, why);
            return;
        }
        size_t rest = c->blen - (size_t)(end + 4 - c->buf);
        memmove(c->buf, end + 4, rest);
        c->blen = rest;
        c->state = S_JOINING;
        if (send_login(c) < 0) { fail(c, errname(errno)); return; }
    }
    if (c->state == S_JOINING) {
        if (memmem(c->buf, c->blen, " 366 ", 5)) {
            joined(c);
        } else if (c->blen > JOIN_BUF_MAX) {
            memmove(c->buf, c->buf + c->blen - 1024, 1024);
            c->blen = 1024;
        }
    }
}

static void pong(conn *c) {
    static const char line[] = "PONG :tmi.twitch.tv\r\n";
    st.pings++;
    if (!cfg.ws) { send_all(c, line, sizeof line - 1); return; }
    char f[64];
    size_t fl;
    ws_frame(line, sizeof line - 1, f, &fl);
    send_all(c, f, fl);
}

static void record(const char *p, const char *end, int64_t now) {
    while (p < end) {
        const char *b = memmem(p, (size_t)(end - p), "bt=", 3);
        if (!b) return;
        b += 3;
        int64_t v = 0;
        int d = 0;
        while (b < end && d < 20 && *b >= '0' && *b <= '9') v = v * 10 + (*b++ - '0'), d++;
        if (d >= 16) {
            if (st.nlat == st.caplat) {
                st.caplat = st.caplat ? st.caplat * 2 : 4096;
                st.lat = xrealloc(st.lat, st.caplat * sizeof *st.lat);
            }
            st.lat[st.nlat++] = now - v / 1000;
        }
        p = b;
    }
}

/* Samplers: stamps in complete lines (carry + data up to its last '\n'); the rest is
 * carried to the next read (at most SAMPLE_KEEP bytes while no '\n' comes). */
static void sample(conn *c, const char *data, size_t n) {
    const char *last = memrchr(data, '\n', n);
    size_t upto = last ? (size_t)(last - data) : n;
    if (c->blen || !last) {
        c->buf = xrealloc(c->buf, c->blen + upto);
        memcpy(c->buf + c->blen, data, upto);
        c->blen += upto;
    }
    if (!last) {
        if (c->blen > SAMPLE_KEEP) {
            memmove(c->buf, c->buf + c->blen - SAMPLE_KEEP, SAMPLE_KEEP);
            c->blen = SAMPLE_KEEP;
        }
        return;
    }
    int64_t now = now_us();
    if (c->blen) record(c->buf, c->buf + c->blen, now);
    else record(data, data + upto, now);
    size_t rest = n - upto - 1;
    c->buf = xrealloc(c->buf, rest);
    memcpy(c->buf, last + 1, rest);
    c->blen = rest;
}

/* The hot path: count ` PRIVMSG #`, spot `PING :`, keep the tail. */
static void on_count_data(conn *c, const char *data, size_t n) {
    uint64_t found = 0;
    int ping = 0;
    /* occurrences that start in the tail and end in data */
    if (c->tlen) {
        char s[2 * TLEN];
        size_t h = n < TLEN ? n : TLEN;
        memcpy(s, c->tail, c->tlen);
        memcpy(s + c->tlen, data, h);
        size_t sl = c->tlen + h;
        for (size_t i = 0; i < c->tlen; i++) {
            if (i + DLEN <= sl && !memcmp(s + i, DELIVERY, DLEN)) found++;
            if (i + 6 <= sl && i + 6 > c->tlen && !memcmp(s + i, "PING :", 6)) ping = 1;
        }
    }
    /* occurrences inside data: every 'P', checked for " PRIVMSG #" around it */
    const char *p = data, *end = data + n;
    while ((p = memchr(p, 'P', (size_t)(end - p))) != NULL) {
        size_t left = (size_t)(end - p);
        if (left >= DLEN - 1 && p[1] == 'R') {
            if (p > data && p[-1] == ' ' && !memcmp(p, DELIVERY + 1, DLEN - 1)) found++;
        } else if (left >= 6 && !memcmp(p, "PING :", 6)) {
            ping = 1;
        }
        p++;
    }
    /* the new tail: the last TLEN bytes of tail + data */
    if (n >= TLEN) {
        memcpy(c->tail, data + n - TLEN, TLEN);
        c->tlen = TLEN;
    } else {
        size_t keep = c->tlen + n > TLEN ? TLEN - n : c->tlen;
        memmove(c->tail, c->tail + c->tlen - keep, keep);
        memcpy(c->tail + keep, data, n);
        c->tlen = (uint8_t)(keep + n);
    }
    st.deliveries += found;
    st.bytes += n;
    st.reads++;
    if (c->sampler) sample(c, data, n);
    if (ping) pong(c);
}

static void on_event(conn *c, uint32_t events) {
    if (c->state == S_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        return;
    }
    if ((events & EPOLLOUT) && c->olen && flush_out(c) < 0) {
        if (c->state == S_COUNTING) lost(c);
        else fail(c, errname(errno));
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    if (cfg.quickack0 && c->state == S_COUNTING) {
        int zero = 0;
        setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
    }
    for (;;) {
        ssize_t n = recv(c->fd, rbuf, RBUF, 0);
        if (n > 0) {
            if (c->state == S_COUNTING) on_count_data(c, rbuf, (size_t)n);
            else on_setup_data(c, rbuf, (size_t)n);
            if (c->state == S_CLOSED) return;
            if (n < RBUF) return; /* level-triggered: any rest is reported again */
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        if (c->state == S_COUNTING) {
            lost(c);
        } else {
            char why[64];
            snprintf(why, sizeof why, "closed while joining: %s", n == 0 ? "EOF" : errname(errno));
            fail(c, why);
        }
        return;
    }
}

/* ---- main ------------------------------------------------------------------------- */

static void load_config(const char *text) {
    jval root;
    jp = text;
    jvalue(&root);
    if (root.t != J_OBJ) die("config: expected a JSON object");
    const jval *mode = jget(&root, "mode");
    if (mode && mode->t == J_STR && strcmp(mode->str, "tmi"))
        die("mode '%s' is not supported by the C reader (TMI only); use loadgen.py", mode->str);
    const jval *tr = jget(&root, "transport");
    cfg.ws = !tr || tr->t != J_STR || strcmp(tr->str, "tcp");
    if (tr && tr->t == J_STR && strcmp(tr->str, "ws") && strcmp(tr->str, "tcp"))
        die("transport must be 'ws' or 'tcp', not '%s'", tr->str);
    const jval *t = jneed(&root, "targets", J_ARR);
    if (!t->n) die("config: no targets");
    cfg.ntargets = t->n;
    cfg.targets = xrealloc(NULL, t->n * sizeof *cfg.targets);
    cfg.target_names = xrealloc(NULL, t->n * sizeof *cfg.target_names);
    for (size_t i = 0; i < t->n; i++) {
        const jval *hp = &t->items[i];
        if (hp->t != J_ARR || hp->n != 2 || hp->items[0].t != J_STR || hp->items[1].t != J_NUM)
            die("config: targets must be [host, port] pairs");
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
        char port[16];
        snprintf(port, sizeof port, "%d", (int)hp->items[1].num);
        int rc = getaddrinfo(hp->items[0].str, port, &hints, &res);
        if (rc) die("cannot resolve %s: %s", hp->items[0].str, gai_strerror(rc));
        memcpy(&cfg.targets[i], res->ai_addr, sizeof cfg.targets[i]);
        freeaddrinfo(res);
        size_t len = strlen(hp->items[0].str) + 16;
        cfg.target_names[i] = xrealloc(NULL, len);
        snprintf(cfg.target_names[i], len, "%s:%s", hp->items[0].str, port);
    }
    const jval *s = jneed(&root, "sources", J_ARR);
    if (!s->n) die("config: no sources");
    cfg.nsources = s->n;
    cfg.sources = xrealloc(NULL, s->n * sizeof *cfg.sources);
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].t != J_STR || inet_pton(AF_INET, s->items[i].str, &cfg.sources[i]) != 1)
            die("config: sources must be IPv4 address strings");
    cfg.count = (long)jneed(&root, "count", J_NUM)->num;
    const jval *v;
    cfg.first_index = (v = jget(&root, "first_index")) && v->t == J_NUM ? (long)v->num : 0;
    cfg.samplers = (v = jget(&root, "samplers")) && v->t == J_NUM ? (long)v->num : 0;
    cfg.inflight = (v = jget(&root, "inflight")) && v->t == J_NUM ? (long)v->num : 100;
    cfg.seed = (v = jget(&root, "seed")) && v->t == J_NUM ? (long)v->num : 1;
    cfg.connect_timeout = (v = jget(&root, "connect_timeout")) && v->t == J_NUM ? v->num : 30.0;
    cfg.connect_deadline = (v = jget(&root, "connect_deadline")) && v->t == J_NUM ? v->num : 120.0;
    cfg.batch_us = (v = jget(&root, "batch_us")) && v->t == J_NUM ? (long)v->num : 1000;
    cfg.quickack0 = !((v = jget(&root, "quickack")) && v->t == J_BOOL && v->num);
    if (getenv("CREADER_BATCH_US")) cfg.batch_us = atol(getenv("CREADER_BATCH_US"));
    if (getenv("CREADER_QUICKACK")) cfg.quickack0 = !atoi(getenv("CREADER_QUICKACK"));
    if (cfg.batch_us < 0 || cfg.batch_us > 999999) die("config: batch_us out of range");
    cfg.caps = (v = jget(&root, "caps")) && v->t == J_STR ? v->str : "";
    cfg.channel = jneed(&root, "channel", J_STR)->str;
    if (cfg.count < 0 || cfg.inflight < 1) die("config: bad count or inflight");
    if (strlen(cfg.caps) > 400 || strlen(cfg.channel) > 100) die("config: caps/channel too long");
}

static void emit_phase(const char *event, double since) {
    if (!strcmp(event, "status")) {
        printf("{\"event\":\"status\",\"alive\":%ld,\"deliveries\":%llu}\n", nalive,
               (unsigned long long)st.deliveries);
    } else {
        printf("{\"event\":\"phase\",\"deliveries\":%llu,\"bytes\":%llu,\"reads\":%llu,"
               "\"closed\":%llu,\"alive\":%ld,\"pings\":%llu,\"seconds\":%.3f,\"latencies_us\":[",
               (unsigned long long)st.deliveries, (unsigned long long)st.bytes,
               (unsigned long long)st.reads, (unsigned long long)st.closed, nalive,
               (unsigned long long)st.pings, mono() - since);
        for (size_t i = 0; i < st.nlat; i++) printf(i ? ",%lld" : "%lld", (long long)st.lat[i]);
        fputs("]}\n", stdout);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: creader '<json config>' (see loadgen.py)");
    signal(SIGPIPE, SIG_IGN);
    load_config(argv[1]);

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;

    conns = calloc((size_t)cfg.count + 1, sizeof *conns);
    flight = calloc((size_t)cfg.inflight, sizeof *flight);
    if (!conns || !flight) die("out of memory");
    for (long i = 0; i < cfg.count; i++) conns[i].fd = -1, conns[i].slot = -1;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));

    enum { MAXEV = 512 };
    struct epoll_event evs[MAXEV];
    double t0 = mono(), deadline = t0 + cfg.connect_deadline, last_scan = t0;

    /* ---- connect phase ---- */
    for (;;) {
        while (next_start < cfg.count && nflight < cfg.inflight) start_one(next_start++);
        if (next_start >= cfg.count && nflight == 0) break;
        double now = mono();
        if (now >= deadline) {
            long n = (cfg.count - next_start) + nflight;
            while (nflight) {
                conn *c = &conns[flight[0]];
                flight_remove(c);
                release(c);
                c->state = S_CLOSED;
            }
            next_start = cfg.count;
            for (long i = 0; i < n; i++) count_error("connect deadline");
            break;
        }
        if (now - last_scan >= 0.05) { /* per-connection timeout */
            last_scan = now;
            for (long i = nflight - 1; i >= 0; i--) {
                if (i >= nflight) continue;
                conn *c = &conns[flight[i]];
                if (now - c->started > cfg.connect_timeout) fail(c, "timeout");
            }
        }
        int ms = (int)((deadline - now) * 1000) + 1;
        int k = epoll_wait(ep, evs, MAXEV, ms < 50 ? ms : 50);
        for (int i = 0; i < k; i++) {
            conn *c = &conns[evs[i].data.u64];
            if (c->state != S_CLOSED) on_event(c, evs[i].events);
        }
    }
    printf("{\"event\":\"connected\",\"attempted\":%ld,\"joined\":%ld,\"errors\":{", cfg.count, njoined);
    for (size_t i = 0; i < nerrs; i++) {
        if (i) fputc(',', stdout);
        json_str(stdout, errs[i].key);
        printf(":%ld", errs[i].n);
    }
    printf("},\"seconds\":%.2f,\"nofile\":%llu}\n", mono() - t0, (unsigned long long)rl.rlim_cur);
    fflush(stdout);

    /* ---- counting phase: connections + stdin in one epoll set ---- */
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev) < 0) die("cannot poll stdin: %s", strerror(errno));
    char line[4096];
    size_t llen = 0;
    double phase_start = mono();
    int quit = 0;
    while (!quit) {
        int k = epoll_wait(ep, evs, MAXEV, -1);
        if (k < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        if (cfg.batch_us > 0 && k < MAXEV) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = cfg.batch_us * 1000};
            nanosleep(&pause, NULL);
            k = epoll_wait(ep, evs, MAXEV, 0);
        }
        for (int i = 0; i < k && !quit; i++) {
            if (evs[i].data.u64 != STDIN_TAG) {
                conn *c = &conns[evs[i].data.u64];
                if (c->state != S_CLOSED) on_event(c, evs[i].events);
                continue;
            }
            ssize_t n = read(0, line + llen, sizeof line - 1 - llen);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                quit = 1; /* EOF: like loadgen.py's empty readline */
                break;
            }
            llen += (size_t)n;
            char *nl;
            while (!quit && (nl = memchr(line, '\n', llen)) != NULL) {
                *nl = 0;
                char *cmd = line;
                while (*cmd == ' ' || *cmd == '\t') cmd++;
                size_t cl = strlen(cmd);
                while (cl && (cmd[cl - 1] == ' ' || cmd[cl - 1] == '\r' || cmd[cl - 1] == '\t')) cmd[--cl] = 0;
                if (!strcmp(cmd, "") || !strcmp(cmd, "quit")) {
                    quit = 1;
                } else if (!strcmp(cmd, "start")) {
                    st.deliveries = st.bytes = st.reads = st.closed = 0;
                    st.nlat = 0;
                    phase_start = mono();
                } else if (!strcmp(cmd, "stop")) {
                    emit_phase("phase", phase_start);
                } else if (!strcmp(cmd, "status")) {
                    emit_phase("status", phase_start);
                }
                size_t used = (size_t)(nl + 1 - line);
                memmove(line, nl + 1, llen - used);
                llen -= used;
            }
            if (llen == sizeof line - 1) llen = 0; /* an absurdly long line: drop it */
        }
    }
    for (long i = 0; i < cfg.count; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return 0;
}
