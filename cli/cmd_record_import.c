/*
 * cmd_record_import.c - `sedge record import --pcap FILE --sdp FILE --out DIR`:
 * a capture of plain RTP becomes the same recording a live session writes.
 *
 * Datagrams are matched to the SDP's m-lines by destination port; where
 * several m-lines share a port (BUNDLE) or none matches, by payload type.
 * Capture timestamps drive the reorder timers, so an import is
 * deterministic: the same capture gives the same files.
 */
#include "cli/cli.h"
#include "cli/cmd_record_common.h"
#include "core/log.h"
#include "core/err.h"
#include "record/catalog.h"
#include "record/pcap.h"

#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge record import --pcap FILE --sdp FILE --out DIR [OPTIONS]\n"
                 "       sedge record import --pcap FILE --sdp FILE --config FILE [OPTIONS]\n\n"
                 "Record the RTP streams the SDP describes (H.264, VP8, VP9, AV1 video,\n"
                 "Opus audio; other codecs are listed as not recorded) from a pcap or\n"
                 "pcapng capture into the recording directory DIR (created; must not exist\n"
                 "or be empty): segment-NNN.mp4 (H.264, VP9, AV1 + Opus), segment-NNN.webm\n"
                 "(VP8 + Opus) or segment-NNN.ogg (audio only), metadata.json,\n"
                 "journal.log, manifest.sha256 and, with a key, manifest.sig. With\n"
                 "--config naming a recording.dir, into a new directory there, registered\n"
                 "in the catalog (printed: `recording ID DIR`).\n\n"
                 "options:\n" REC_COMMON_HELP);
}

/* Which stream a datagram belongs to, or -1. */
static int classify(const struct rec_sdp *sdp, const struct pcap_udp *u)
{
    int by_port = -1, n_port = 0, pt;

    for (int i = 0; i < sdp->n; i++)
        if (sdp->m[i].port == u->dport) {
            by_port = i;
            n_port++;
        }
    if (n_port == 1)
        return by_port;
    if (u->len < 2)
        return -1;
    pt = u->payload[1] & 0x7f;
    for (int i = 0; i < sdp->n; i++)
        if ((n_port == 0 || sdp->m[i].port == u->dport) &&
            rec_sdp_takes_pt(&sdp->m[i].cfg, pt))
            return i;
    return -1;
}

int cmd_record_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"pcap", required_argument, NULL, 'p'},
        {"sdp", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        REC_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *pcap_path = NULL, *sdp_path = NULL, *dir = NULL;
    static struct rec_cli_opts o;
    static struct rec_sdp sdp;
    uint8_t key[REC_KEY_MAX];
    struct pcap_reader *pr = NULL;
    struct rec_session *s = NULL;
    struct pcap_udp u;
    char err[512];
    int c, r, rc = 1;
    uint64_t taken = 0, other = 0;
    int64_t last_tick = 0, now = 0;

    memset(&o, 0, sizeof(o));
    se_log_set_level(SE_LOG_INFO);
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:s:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            pcap_path = optarg;
            break;
        case 's':
            sdp_path = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            r = rec_cli_option(&o, c, optarg);
            if (r == 0)
                break;
            usage(stderr);
            return 2;
        }
    }
    if (!pcap_path || !sdp_path || optind != argc) {
        usage(stderr);
        return 2;
    }
    if ((r = rec_cli_catalog_open(&o, dir)) != 0) {
        if (r == 2 && !dir)
            usage(stderr);
        return r;
    }
    snprintf(err, sizeof(err), "import:%.100s", pcap_path);
    if (rec_cli_prepare(&o, sdp_path, &sdp, dir, key, err) != 0)
        goto out;
    dir = o.cfg.dir;
    if (o.cat)
        printf("recording %s %s\n", o.cfg.id, o.cfg.dir);
    if (pcap_open(&pr, pcap_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        goto out;
    }
    if ((r = rec_session_open(&s, &o.cfg)) < 0) {
        fprintf(stderr, "sedge: cannot start the recording in %s: %s\n", dir, se_err(r));
        goto out;
    }
    while ((r = pcap_next_udp(pr, &u)) == 1) {
        int idx = classify(&sdp, &u);
        now = u.ts_us;
        if (idx < 0) {
            other++;
            continue;
        }
        taken++;
        rec_session_rtp(s, idx, u.payload, u.len, now);
        if (now - last_tick >= 20000) {
            rec_session_tick(s, now);
            last_tick = now;
        }
    }
    if (r < 0)
        fprintf(stderr, "sedge: %s: capture ends inside a record (%s); recorded what came before\n",
                pcap_path, se_err(r));
    r = rec_session_close(s, now);
    s = NULL;
    printf("%s: %llu RTP packets recorded, %llu other datagrams skipped\n", dir,
           (unsigned long long)taken, (unsigned long long)other);
    if (r < 0)
        fprintf(stderr, "sedge: the recording in %s is incomplete: %s\n", dir, se_err(r));
    else if (taken == 0)
        fprintf(stderr, "sedge: no packet of the SDP's streams in %s\n", pcap_path);
    else
        rc = 0;
out:
    rec_session_close(s, now);
    pcap_close(pr);
    rec_cli_catalog_close(&o);
    return rc;
}
