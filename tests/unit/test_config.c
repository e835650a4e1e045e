/*
 * test_config.c - sedge.conf loading: defaults, every refusal names the
 * file, line and setting, and nothing half-loaded escapes.
 */
#include "core/config.h"
#include "core/err.h"
#include "tests/unit/check.h"

#include <stdlib.h>
#include <unistd.h>

static char path[64];

static const char base[] =
    "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; port = 3478; } );\n"
    "relay = { address = \"127.0.0.2\"; min_port = 50000; max_port = 50100; };\n";

static int load(const char *text, struct se_config **c, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return se_config_load(path, c, err, errlen);
}

static void expect_error(const char *text, const char *needle)
{
    struct se_config *c = (struct se_config *)1;
    char err[512] = "";

    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), SE_ERR_CONFIG);
    CHECK(c == NULL);
    if (!strstr(err, needle)) {
        printf("    error \"%s\" lacks \"%s\"\n", err, needle);
        CHECK(0);
    }
}

static void test_minimal_and_defaults(void)
{
    struct se_config *c;
    char err[512];

    CHECK_EQ_INT(load(base, &c, err, sizeof(err)), 0);
    if (!c)
        return;
    CHECK_STR(c->realm, "sedge");
    CHECK_EQ_INT(c->n_listen, 1);
    CHECK_EQ_INT(c->listen[0].addr.port, 3478);
    CHECK(c->has_relay_v4 && !c->has_relay_v6);
    CHECK_EQ_INT(c->default_lifetime, 600);
    CHECK_EQ_INT(c->max_lifetime, 3600);
    CHECK(c->workers >= 1);
    CHECK_EQ_INT(c->relay_offload, SE_OFFLOAD_AUTO); /* the fast path where the kernel allows it */
    se_config_free(c);
}

static void test_full(void)
{
    struct se_config *c;
    char err[512], text[2048];

    snprintf(text, sizeof(text),
             "%s realm = \"corp.example\"; workers = 3; log_level = \"debug\";\n"
             "peers = { allow = [ \"10.0.0.0/8\", \"fd00::/8\" ]; deny = [ \"10.9.0.0/16\" ]; };\n"
             "limits = { max_allocations_per_user = 7; };\n"
             "auth = { fail_limit = 3; security_features = false; };\n",
             base);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (!c) {
        printf("    %s\n", err);
        return;
    }
    CHECK_STR(c->realm, "corp.example");
    CHECK_EQ_INT(c->workers, 3);
    CHECK_EQ_INT(se_cidr_set_count(c->peer_allow), 2);
    CHECK_EQ_INT(se_cidr_set_count(c->peer_deny), 1);
    CHECK_EQ_INT(c->max_allocations_per_user, 7);
    CHECK_EQ_INT(c->auth_fail_limit, 3);
    CHECK(!c->security_features);
    se_config_free(c);
}

static void test_errors(void)
{
    char text[2048];

    expect_error("listen = (", "syntax error");
    expect_error("relay = { address = \"127.0.0.2\"; };", "listen: missing");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );", "relay: missing");
    snprintf(text, sizeof(text), "%srelam = \"x\";\n", base);
    expect_error(text, ":3: relam: unknown setting");
    expect_error("listen = ( { transport = \"sctp\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"127.0.0.2\"; };",
                 ":1: listen[0]: transport must be");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.300\"; } );\n"
                 "relay = { address = \"127.0.0.2\"; };",
                 "listen[0]: address \"127.0.0.300\"");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; port = 70000; } );\n"
                 "relay = { address = \"127.0.0.2\"; };",
                 "listen[0]: must be between 1 and 65535");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"127.0.0.2\";\n min_port = 60000;\n max_port = 50000; };",
                 ":3: relay.min_port: 60000 is above relay.max_port");
    snprintf(text, sizeof(text), "%speers = { allow = [ \"10.0.0.0/33\" ]; };\n", base);
    expect_error(text, ":3: peers.allow: \"10.0.0.0/33\" is not a CIDR");
    snprintf(text, sizeof(text), "%sworkers = \"many\";\n", base);
    expect_error(text, ":3: workers: must be an integer");
    expect_error("listen = ( { transport = \"tls\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"127.0.0.2\"; };",
                 "a tls listener needs tls");
    snprintf(text, sizeof(text), "%stls = { cert = \"/nonexistent.pem\"; key = \"/x\"; };\n", base);
    expect_error(text, "tls.cert: cannot read \"/nonexistent.pem\"");
    snprintf(text, sizeof(text), "%slimits = { default_lifetime = 7200; };\n", base);
    expect_error(text, "limits.default_lifetime: is above limits.max_lifetime");
    /* PROXY protocol: TCP/TLS only, and never without the balancers' addresses. */
    expect_error("listen = ( { transport = \"tcp\"; address = \"127.0.0.1\"; proxy_protocol = true; } );\n"
                 "relay = { address = \"127.0.0.2\"; };",
                 "listen[0].proxy_protocol: proxy_protocol needs the load balancers' addresses");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; proxy_protocol = true;\n"
                 " proxy_from = [ \"10.0.0.5\" ]; } );\nrelay = { address = \"127.0.0.2\"; };",
                 "listen[0].proxy_protocol: PROXY protocol is for tcp and tls listeners");
    expect_error("listen = ( { transport = \"tcp\"; address = \"127.0.0.1\";\n"
                 " proxy_from = [ \"10.0.0.5\" ]; } );\nrelay = { address = \"127.0.0.2\"; };",
                 ":2: listen[0].proxy_from: only with proxy_protocol = true");
    expect_error("listen = ( { transport = \"tcp\"; address = \"127.0.0.1\"; proxy_protocol = true;\n"
                 " proxy_from = [ \"10.0.0.5/40\" ]; } );\nrelay = { address = \"127.0.0.2\"; };",
                 "listen[0].proxy_from: \"10.0.0.5/40\" is not a CIDR");
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"127.0.0.2\";\n offload = \"xdp\"; };",
                 ":3: relay.offload: \"xdp\": must be \"auto\", \"bpf\" or \"off\"");
}

static void test_proxy_listen(void)
{
    struct se_config *c;
    char err[512];

    CHECK_EQ_INT(load("listen = ( { transport = \"tcp\"; address = \"127.0.0.1\"; },\n"
                      " { transport = \"tcp\"; address = \"127.0.0.1\"; port = 3479;\n"
                      "   proxy_protocol = true; proxy_from = [ \"10.0.0.5\", \"10.9.0.0/24\" ]; } );\n"
                      "relay = { address = \"127.0.0.2\"; };",
                      &c, err, sizeof(err)),
                 0);
    if (!c) {
        printf("    %s\n", err);
        return;
    }
    CHECK(!c->listen[0].proxy_protocol && c->listen[0].proxy_from == NULL);
    CHECK(c->listen[1].proxy_protocol);
    CHECK_EQ_INT(se_cidr_set_count(c->listen[1].proxy_from), 2);
    se_config_free(c);
}

static void test_offload_modes(void)
{
    static const struct {
        const char *text;
        int mode;
    } cases[] = {{"bpf", SE_OFFLOAD_BPF}, {"off", SE_OFFLOAD_OFF}, {"auto", SE_OFFLOAD_AUTO}};
    char text[512], err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct se_config *c = NULL;
        snprintf(text, sizeof(text),
                 "listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"127.0.0.2\"; offload = \"%s\"; };\n",
                 cases[i].text);
        CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
        if (c)
            CHECK_EQ_INT(c->relay_offload, cases[i].mode);
        se_config_free(c);
    }
}

static void test_recording(void)
{
    struct se_config *c;
    char err[512], text[1024];

    CHECK_EQ_INT(load(base, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_EQ_INT(c->rec_fsync_interval, 2000);
        CHECK(!c->rec_sign_key_file[0]);
        se_config_free(c);
    }
    snprintf(text, sizeof(text),
             "%s recording = { dir = \"/var/lib/sedge/rec\"; sign_key_file = \"%s\";\n"
             "  fsync_interval = 500; };\n",
             base, path);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_STR(c->rec_dir, "/var/lib/sedge/rec");
        CHECK_STR(c->rec_sign_key_file, path);
        CHECK_EQ_INT(c->rec_fsync_interval, 500);
        se_config_free(c);
    }
    snprintf(text, sizeof(text), "%s\nrecording = {\n sign_key_file = \"/nonexistent/key\"; };\n",
             base);
    expect_error(text, ":5: recording.sign_key_file: cannot read");
    snprintf(text, sizeof(text), "%s recording = { fsync_interval = -1; };\n", base);
    expect_error(text, "recording.fsync_interval");
    /* the catalog settings, the default key beside the database, the alias */
    snprintf(text, sizeof(text),
             "%sdatabase = \"/var/lib/sedge/sedge.db\";\n"
             "record = { dir = \"/srv/rec\"; retention = 90; on_failure = \"end_call\";\n"
             "  purge_interval = 60; };\n",
             base);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_STR(c->rec_dir, "/srv/rec");
        CHECK_EQ_INT(c->rec_retention, 90);
        CHECK(se_config_rec_end_call(c, false)); /* "end_call": the alias of "terminate" */
        CHECK_EQ_INT(c->rec_purge_interval, 60);
        CHECK(c->rec_key_default);
        CHECK_STR(c->rec_sign_key_file, "/var/lib/sedge/recording-key.pem");
        CHECK_STR(c->rec_keyring_dir, "/var/lib/sedge/recording-keys");
        se_config_free(c);
    }
    snprintf(text, sizeof(text), "%s recording = { dir = \"/a\"; };\nrecord = { dir = \"/b\"; };\n",
             base);
    expect_error(text, "record: is another name for the recording group");
    snprintf(text, sizeof(text), "%s recording = { dir = \"/a\"; on_failure = \"stop\"; };\n", base);
    expect_error(text, "recording.on_failure: must be");
    /* recording.on_failure: issue 12's values, and the default that
     * depends on whether policy requires the recording */
    static const struct {
        const char *value;
        bool end_required, end_other;
    } onf[] = {
        {NULL, true, false},
        {"terminate", true, true},
        {"continue", false, false},
    };
    for (size_t i = 0; i < sizeof(onf) / sizeof(onf[0]); i++) {
        char v[64] = "";
        if (onf[i].value)
            snprintf(v, sizeof(v), "on_failure = \"%s\";", onf[i].value);
        snprintf(text, sizeof(text), "%s recording = { dir = \"/a\"; %s };\n", base, v);
        c = NULL;
        CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
        if (c) {
            CHECK(se_config_rec_end_call(c, true) == onf[i].end_required);
            CHECK(se_config_rec_end_call(c, false) == onf[i].end_other);
            se_config_free(c);
        }
    }
    snprintf(text, sizeof(text), "%s recording = { dir = \"relative\"; };\n", base);
    expect_error(text, "recording.dir: must be an absolute path");
    snprintf(text, sizeof(text), "%s recording = { dir = \"/a\"; purge_interval = 0; };\n", base);
    expect_error(text, "recording.purge_interval");
}

static void test_anchor(void)
{
    struct se_config *c;
    char err[512], text[1024];

    CHECK_EQ_INT(load(base, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK(!c->anchor.enabled);
        se_config_free(c);
    }
    snprintf(text, sizeof(text),
             "%sanchor = { inside_address = \"10.0.0.5\"; outside_address = \"192.0.2.5\";\n"
             "  outside_advertised = \"198.51.100.5\"; min_port = 40000; max_port = 40999; };\n",
             base);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (c) {
        char ip[SE_ADDR_STRLEN];
        CHECK(c->anchor.enabled);
        CHECK_STR(se_addr_ip_str(&c->anchor.inside, ip, sizeof(ip)), "10.0.0.5");
        CHECK_STR(se_addr_ip_str(&c->anchor.inside_adv, ip, sizeof(ip)), "10.0.0.5");
        CHECK_STR(se_addr_ip_str(&c->anchor.outside_adv, ip, sizeof(ip)), "198.51.100.5");
        CHECK_EQ_INT(c->anchor.min_port, 40000);
        CHECK_EQ_INT(c->anchor.max_port, 40999);
        se_config_free(c);
    }
    snprintf(text, sizeof(text), "%sanchor = { outside_address = \"192.0.2.5\"; };\n", base);
    expect_error(text, "anchor.inside_address: missing");
    snprintf(text, sizeof(text),
             "%sanchor = { inside_address = \"0.0.0.0\"; outside_address = \"192.0.2.5\"; };\n",
             base);
    expect_error(text, "anchor.inside_address: must be a real address");
    snprintf(text, sizeof(text),
             "%sanchor = { inside_address = \"10.0.0.5\"; outside_address = \"192.0.2.5\";\n"
             " min_port = 50050; max_port = 51000; };\n",
             base);
    expect_error(text, "overlaps relay.min_port-max_port 50000-50100");
    snprintf(text, sizeof(text),
             "%sanchor = { inside_address = \"10.0.0.5\"; outside_address = \"192.0.2.5\";\n"
             " inside_advertised = \"::1\"; };\n",
             base);
    expect_error(text, "advertised address must have the family");
    snprintf(text, sizeof(text),
             "%sanchor = { inside_address = \"10.0.0.5\"; outside_address = \"192.0.2.5\";\n"
             " insde_advertised = \"10.0.0.6\"; };\n",
             base);
    expect_error(text, ":4: anchor: unknown setting \"insde_advertised\"");
}

/* drain = { timeout; idle; alternate; }, user/group, relay.external_address */
static void test_drain_and_operations(void)
{
    static const struct {
        const char *alt, *want; /* want NULL: refused */
    } alts[] = {
        {"192.0.2.10", "192.0.2.10:3478"},
        {"192.0.2.10:5349", "192.0.2.10:5349"},
        {"2001:db8::10", "[2001:db8::10]:3478"},
        {"[2001:db8::10]:443", "[2001:db8::10]:443"},
        {"turn.example.com", NULL},
        {"192.0.2.10:0", NULL},
        {"192.0.2.10:70000", NULL},
        {"[2001:db8::10", NULL},
        {"192.0.2.10:", NULL},
    };
    char text[1024], err[512], as[SE_ADDR_STRLEN];
    struct se_config *c;

    CHECK_EQ_INT(load(base, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_EQ_INT(c->drain_timeout, 30);
        CHECK_EQ_INT(c->drain_idle, 10);
        CHECK(!c->has_drain_alternate && !c->run_user[0] && !c->has_relay_ext_v4);
        se_config_free(c);
    }
    for (size_t i = 0; i < sizeof(alts) / sizeof(alts[0]); i++) {
        snprintf(text, sizeof(text), "%sdrain = { alternate = \"%s\"; };\n", base, alts[i].alt);
        if (!alts[i].want) {
            expect_error(text, "drain.alternate: \"");
            continue;
        }
        c = NULL;
        CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
        if (c) {
            CHECK(c->has_drain_alternate);
            CHECK_STR(se_addr_str(&c->drain_alternate, as, sizeof(as)), alts[i].want);
        }
        se_config_free(c);
    }
    snprintf(text, sizeof(text), "%sdrain = { timeout = 5; idle = 0; };\nuser = \"sedge\";\n"
             "group = \"sedge\";\n", base);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (c) {
        CHECK_EQ_INT(c->drain_timeout, 5);
        CHECK_EQ_INT(c->drain_idle, 0);
        CHECK_STR(c->run_user, "sedge");
        CHECK_STR(c->run_group, "sedge");
        se_config_free(c);
    }
    snprintf(text, sizeof(text), "%slimits = { drain_timeout = 7; };\n", base);
    CHECK_EQ_INT(load(text, &c, err, sizeof(err)), 0);
    if (c)
        CHECK_EQ_INT(c->drain_timeout, 7); /* the older name still works */
    se_config_free(c);
    snprintf(text, sizeof(text), "%slimits = { drain_timeout = 7; };\ndrain = { timeout = 5; };\n",
             base);
    expect_error(text, "drain.timeout: limits.drain_timeout is the same setting");
    snprintf(text, sizeof(text), "%sdrain = { grace = 5; };\n", base);
    expect_error(text, "drain: unknown setting \"grace\"");
    CHECK_EQ_INT(load("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
                      "relay = { address = \"10.0.0.5\"; address6 = \"fd00::5\";\n"
                      " external_address = \"203.0.113.5\"; external_address6 = \"2001:db8::5\"; };\n",
                      &c, err, sizeof(err)),
                 0);
    if (c) {
        CHECK(c->has_relay_ext_v4 && c->has_relay_ext_v6);
        CHECK_STR(se_addr_ip_str(&c->relay_ext_v4, as, sizeof(as)), "203.0.113.5");
        CHECK_STR(se_addr_ip_str(&c->relay_ext_v6, as, sizeof(as)), "2001:db8::5");
        CHECK_STR(se_addr_ip_str(&c->relay_v4, as, sizeof(as)), "10.0.0.5"); /* bound here */
        se_config_free(c);
    }
    expect_error("listen = ( { transport = \"udp\"; address = \"127.0.0.1\"; } );\n"
                 "relay = { address = \"10.0.0.5\";\n external_address6 = \"2001:db8::5\"; };\n",
                 ":3: relay.external_address6: \"2001:db8::5\" has no relay address of its family");
}

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-config-%d.conf", (int)getpid());
    RUN(test_minimal_and_defaults);
    RUN(test_full);
    RUN(test_errors);
    RUN(test_proxy_listen);
    RUN(test_offload_modes);
    RUN(test_recording);
    RUN(test_anchor);
    RUN(test_drain_and_operations);
    unlink(path);
    return check_done();
}
