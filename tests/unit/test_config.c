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

int main(void)
{
    snprintf(path, sizeof(path), "/tmp/sedge-test-config-%d.conf", (int)getpid());
    RUN(test_minimal_and_defaults);
    RUN(test_full);
    RUN(test_errors);
    RUN(test_recording);
    RUN(test_anchor);
    unlink(path);
    return check_done();
}
