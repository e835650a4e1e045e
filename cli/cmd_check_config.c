/*
 * cmd_check_config.c - `sedge check-config`: validate a configuration
 * without starting anything. Exit 0 and a summary, or exit 1 with the
 * problem named (file, line, setting).
 */
#include "api/api.h"
#include "cli/cli.h"
#include "core/config.h"
#include "relay/relay.h"

#include <getopt.h>
#include <openssl/ssl.h>
#include <stdio.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge check-config [--config FILE]\n\n"
                 "Check FILE (settings, TLS certificates and keys, API JWT keys) and\n"
                 "print a summary.\n");
}

int cmd_check_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    struct se_config *cfg;
    char err[512];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!config)
        config = cli_default_config();
    if (se_config_load(config, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s\n", err);
        return 1;
    }
    if (cfg->tls_cert[0]) {
        SSL_CTX *tls = relay_tls_ctx_new(cfg->tls_cert, cfg->tls_key, err, sizeof(err));
        if (!tls) {
            fprintf(stderr, "sedge: %s: %s\n", config, err);
            se_config_free(cfg);
            return 1;
        }
        SSL_CTX_free(tls);
    }
    if (cfg->api.enabled && api_config_check(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: %s: %s\n", config, err);
        se_config_free(cfg);
        return 1;
    }
    printf("%s: OK\n", config);
    printf("  realm %s, database %s, %d workers\n", cfg->realm, cfg->database, cfg->workers);
    for (int i = 0; i < cfg->n_listen; i++) {
        char as[SE_ADDR_STRLEN];
        printf("  listen %s %s\n", se_transport_name(cfg->listen[i].transport),
               se_addr_str(&cfg->listen[i].addr, as, sizeof(as)));
    }
    char a4[SE_ADDR_STRLEN] = "-", a6[SE_ADDR_STRLEN] = "-";
    if (cfg->has_relay_v4)
        se_addr_ip_str(&cfg->relay_v4, a4, sizeof(a4));
    if (cfg->has_relay_v6)
        se_addr_ip_str(&cfg->relay_v6, a6, sizeof(a6));
    printf("  relay %s / %s ports %u-%u\n", a4, a6, cfg->min_port, cfg->max_port);
    printf("  peers: %zu allowed ranges, %zu denied ranges (plus the built-in deny list)\n",
           se_cidr_set_count(cfg->peer_allow), se_cidr_set_count(cfg->peer_deny));
    if (cfg->api.enabled) {
        char as[SE_ADDR_STRLEN];
        printf("  api https://%s, %d JWT issuer keys, %d CORS origins, TURN host %s\n",
               se_addr_str(&cfg->api.addr, as, sizeof(as)), cfg->api.n_jwt, cfg->api.n_cors,
               cfg->api.turn_host);
        if (cfg->api.mgmt_enabled)
            printf("  api management https://%s (admin endpoints, /metrics without a token)\n",
                   se_addr_str(&cfg->api.mgmt_addr, as, sizeof(as)));
        else
            printf("  api: no management listener, /metrics needs a role token\n");
    }
    se_config_free(cfg);
    return 0;
}
