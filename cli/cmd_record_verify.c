/*
 * cmd_record_verify.c - `sedge record verify DIR`: re-hash every file of a
 * recording against its manifest and check the manifest's signature.
 * Exit 0 only if everything matches; 1 on any mismatch or missing file.
 */
#include "cli/cli.h"
#include "cli/cmd_record_common.h"
#include "core/config.h"
#include "record/manifest.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge record verify DIR [--key-file FILE ... | --config FILE]\n"
                 "                           [--require-signature] [--allow-unsigned]\n\n"
                 "Check a recording directory: every file listed in manifest.sha256 must\n"
                 "have its size and SHA-256, no unlisted file may be present, and\n"
                 "manifest.sig must be the HMAC-SHA256 of the manifest under the key, or\n"
                 "its Ed25519 signature checked with the key's public half (PEM), the key\n"
                 "the manifest names by its id. The keys: every --key-file (repeat it for\n"
                 "old and new keys), else recording.sign_key_file and the retired keys in\n"
                 "recording.keyring_dir of --config, else $SEDGE_RECORD_KEY_FILE.\n"
                 "A recording without manifest.sig fails (anyone can re-hash edited files)\n"
                 "unless --allow-unsigned accepts it on its hashes alone. Without a key a\n"
                 "signature is reported as not checked, which is an error with\n"
                 "--require-signature.\n"
                 "DIR may also be a directory holding exactly one recording.\n"
                 "Exit status: 0 all good, 1 mismatch, unsigned or unreadable, 2 usage.\n");
}

/* DIR itself, or its only subdirectory holding a manifest. */
static void resolve_dir(const char *dir, char *out, size_t cap)
{
    char p[4096];
    struct stat sb;
    DIR *dh;
    int found = 0;

    snprintf(out, cap, "%s", dir);
    snprintf(p, sizeof(p), "%s/%s", dir, REC_MANIFEST_NAME);
    if (stat(p, &sb) == 0 || !(dh = opendir(dir)))
        return;
    for (struct dirent *de; (de = readdir(dh));) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s/%s", dir, de->d_name, REC_MANIFEST_NAME);
        if (stat(p, &sb) == 0 && found++ == 0)
            snprintf(out, cap, "%s/%s", dir, de->d_name);
    }
    closedir(dh);
    if (found != 1)
        snprintf(out, cap, "%s", dir);
}

/* The keys that verify: every --key-file (repeatable: old and new keys
 * after a rotation); else recording.sign_key_file and keyring_dir of
 * --config; else $SEDGE_RECORD_KEY_FILE. Prints problems; 0 or 1. */
static int load_keys(struct rec_keyring *kr, char **files, int n_files, const char *config)
{
    struct se_config *cfg = NULL;
    char err[512];
    const char *env = getenv("SEDGE_RECORD_KEY_FILE");

    for (int i = 0; i < n_files; i++)
        if (rec_keyring_add_file(kr, files[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "sedge: --key-file: %s\n", err);
            return 1;
        }
    if (n_files)
        return 0;
    if (config) {
        if (se_config_load(config, &cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "sedge: %s\n", err);
            return 1;
        }
        int rc = 0;
        if (cfg->rec_sign_key_file[0] && (!cfg->rec_key_default ||
                                          access(cfg->rec_sign_key_file, R_OK) == 0) &&
            rec_keyring_add_file(kr, cfg->rec_sign_key_file, err, sizeof(err)) < 0)
            rc = 1;
        if (!rc && cfg->rec_keyring_dir[0] &&
            rec_keyring_add_dir(kr, cfg->rec_keyring_dir, err, sizeof(err)) < 0)
            rc = 1;
        if (rc)
            fprintf(stderr, "sedge: %s\n", err);
        se_config_free(cfg);
        return rc;
    }
    if (env && env[0] && rec_keyring_add_file(kr, env, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: $SEDGE_RECORD_KEY_FILE: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_record_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key-file", required_argument, NULL, 'k'},
        {"require-signature", no_argument, NULL, 'r'},
        {"allow-unsigned", no_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    char *files[REC_KEYRING_MAX];
    int n_files = 0;
    unsigned flags = 0;
    char dir[4096];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:ruc:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (n_files == REC_KEYRING_MAX) {
                fprintf(stderr, "sedge: at most %d --key-file\n", REC_KEYRING_MAX);
                return 2;
            }
            files[n_files++] = optarg;
            break;
        case 'r':
            flags |= REC_VERIFY_REQUIRE_SIG;
            break;
        case 'u':
            flags |= REC_VERIFY_ALLOW_UNSIGNED;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    struct rec_keyring *kr = rec_keyring_new();
    if (!kr || load_keys(kr, files, n_files, config) != 0) {
        rec_keyring_free(kr);
        return 1;
    }
    struct rec_verify v;
    resolve_dir(argv[optind], dir, sizeof(dir));
    int r = rec_manifest_check(dir, kr, flags, &v);
    rec_verify_print(&v, stdout);
    rec_verify_free(&v);
    rec_keyring_free(kr);
    printf("%s: %s\n", dir, r == 0 ? "verified" : "VERIFICATION FAILED");
    return r == 0 ? 0 : 1;
}
