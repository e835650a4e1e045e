/*
 * cmd_record_verify.c - `sedge record verify DIR`: re-hash every file of a
 * recording against its manifest and check the manifest's signature.
 * Exit 0 only if everything matches; 1 on any mismatch or missing file.
 */
#include "cli/cli.h"
#include "cli/cmd_record_common.h"
#include "record/manifest.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sedge record verify DIR [--key-file FILE | --config FILE]\n"
                 "                           [--require-signature] [--allow-unsigned]\n\n"
                 "Check a recording directory: every file listed in manifest.sha256 must\n"
                 "have its size and SHA-256, no unlisted file may be present, and\n"
                 "manifest.sig must be the HMAC-SHA256 of the manifest under the key, or\n"
                 "its Ed25519 signature checked with the key's public half (PEM). The key:\n"
                 "--key-file, else recording.sign_key_file of --config, else\n"
                 "$SEDGE_RECORD_KEY_FILE.\n"
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
    const char *key_file = NULL, *config = NULL;
    unsigned flags = 0;
    uint8_t key[REC_KEY_MAX];
    size_t key_len = 0;
    char dir[4096];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "k:ruc:h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            key_file = optarg;
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
    if (rec_cli_config(config, &key_file, NULL, false) != 0 ||
        cli_record_key(key_file, key, &key_len) != 0)
        return 1;
    if (key_len && rec_key_usable(key, key_len, false) != 0) {
        fprintf(stderr, "sedge: --key-file: PEM keys must be Ed25519 keys\n");
        return 1;
    }
    resolve_dir(argv[optind], dir, sizeof(dir));
    int r = rec_manifest_verify(dir, key, key_len, flags, stdout);
    printf("%s: %s\n", dir, r == 0 ? "verified" : "VERIFICATION FAILED");
    return r == 0 ? 0 : 1;
}
