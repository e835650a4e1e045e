/*
 * cmd_record_key.c - `sedge record key`: the recording signing key.
 *
 *   --public      the public half (PEM) a third party verifies with
 *   --all         with --public: every key that still verifies (keyring)
 *   --id          the key id manifests name
 *   --generate    a new key at recording.sign_key_file (or --out)
 *   --rotate      retire the key into recording.keyring_dir (its public
 *                 half, or an HMAC secret as it is) and make a new one
 *
 * The key is recording.sign_key_file of --config; with recording.dir and
 * no such setting, the Ed25519 key beside the database, created on first
 * use (here too). Old recordings stay verifiable after a rotation: their
 * manifests name the old key id, which the keyring still holds.
 */
#include "cli/cli.h"
#include "core/config.h"
#include "core/err.h"
#include "record/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: sedge record key --public [--all] [--config FILE]\n"
            "       sedge record key --id [--config FILE]\n"
            "       sedge record key --generate [--hmac] [--out FILE] [--config FILE]\n"
            "       sedge record key --rotate [--config FILE]\n\n"
            "The key that signs recording manifests (recording.sign_key_file; with\n"
            "recording.dir and no key set, recording-key.pem beside the database).\n"
            "--public prints the Ed25519 public key in PEM: give it to whoever must\n"
            "verify recordings (`sedge record verify DIR --key-file it.pem`, or the\n"
            "OpenSSL commands of an export's VERIFY.txt); --all also the retired keys.\n"
            "--generate makes a new key (Ed25519; --hmac: a random 32-byte secret).\n"
            "--rotate keeps the current key's public half (an HMAC secret as it is) in\n"
            "recording.keyring_dir, where verification still finds it, and replaces the\n"
            "key; restart `sedge serve` to sign with it.\n");
}

/* Write a new HMAC secret (hex of 32 random bytes) to path (must not exist). */
static int hmac_generate(const char *path)
{
    uint8_t r[32];
    char hex[65];
    int fd;

    if (RAND_bytes(r, sizeof(r)) != 1)
        return SE_ERR_CRYPTO;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", r[i]);
    OPENSSL_cleanse(r, sizeof(r));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? SE_ERR_EXISTS : SE_ERR_IO;
    int ok = write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    OPENSSL_cleanse(hex, sizeof(hex));
    close(fd);
    return ok ? 0 : SE_ERR_IO;
}

static int generate(const char *path, bool hmac)
{
    char err[512];
    int rc = hmac ? hmac_generate(path) : rec_key_generate(path, err, sizeof(err));

    if (rc < 0) {
        fprintf(stderr, "sedge: %s: %s\n", path,
                rc == SE_ERR_EXISTS ? "exists (use --rotate to replace the key)"
                                    : hmac ? se_err(rc) : err);
        return 1;
    }
    return 0;
}

/* The key of cfg into key/len, creating the default one if needed. */
static int load(const struct se_config *cfg, uint8_t *key, size_t *len)
{
    char err[512] = "";

    if (!cfg->rec_sign_key_file[0]) {
        fprintf(stderr, "sedge: no recording key: set recording.sign_key_file or recording.dir\n");
        return 1;
    }
    if (cfg->rec_key_default && access(cfg->rec_sign_key_file, F_OK) != 0 &&
        generate(cfg->rec_sign_key_file, false) != 0)
        return 1;
    if (rec_key_load(cfg->rec_sign_key_file, key, len, err, sizeof(err)) < 0 ||
        rec_key_usable(key, *len, false) < 0) {
        fprintf(stderr, "sedge: %s\n", err[0] ? err : "not an Ed25519 key or a secret");
        return 1;
    }
    return 0;
}

static int print_public(const uint8_t *key, size_t len, bool header)
{
    char id[REC_KEY_ID_LEN + 1];
    char *pem = rec_key_public_pem(key, len);

    rec_key_id(key, len, id);
    if (!pem) {
        fprintf(stderr, "sedge: key %s is an HMAC secret: there is no public key (verifying "
                        "needs the secret)\n",
                id);
        return 1;
    }
    if (header)
        printf("# key %s\n", id);
    fputs(pem, stdout);
    free(pem);
    return 0;
}

static int print_all(const struct se_config *cfg, const uint8_t *key, size_t len)
{
    struct rec_keyring *kr = rec_keyring_new();
    char err[512];
    int bad = 0;

    if (!kr || rec_keyring_add(kr, key, len) < 0 ||
        rec_keyring_add_dir(kr, cfg->rec_keyring_dir, err, sizeof(err)) < 0) {
        fprintf(stderr, "sedge: recording.keyring_dir: %s\n", kr ? err : "out of memory");
        rec_keyring_free(kr);
        return 1;
    }
    for (size_t i = 0; i < rec_keyring_count(kr); i++) {
        size_t kl;
        const uint8_t *k = rec_keyring_get(kr, i, &kl, NULL);
        bad |= print_public(k, kl, true);
    }
    rec_keyring_free(kr);
    return bad;
}

/* Retire the key into the keyring directory and make a new one. */
static int rotate(const struct se_config *cfg, const uint8_t *key, size_t len)
{
    char id[REC_KEY_ID_LEN + 1], path[SE_PATH_MAX + 64], tmp[SE_PATH_MAX + 16];
    char *pem = rec_key_public_pem(key, len);
    bool ed = pem != NULL;
    int fd;

    rec_key_id(key, len, id);
    if (mkdir(cfg->rec_keyring_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "sedge: %s: %s\n", cfg->rec_keyring_dir, strerror(errno));
        free(pem);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/%s.%s", cfg->rec_keyring_dir, id, ed ? "pub" : "key");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, ed ? 0644 : 0600);
    const void *data = ed ? (const void *)pem : (const void *)key;
    size_t n = ed ? strlen(pem) : len;
    bool ok = fd >= 0 && write(fd, data, n) == (ssize_t)n && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    free(pem);
    if (!ok) {
        fprintf(stderr, "sedge: cannot keep the old key in %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* The new key goes beside the old one, then replaces it by rename. */
    snprintf(tmp, sizeof(tmp), "%s.new", cfg->rec_sign_key_file);
    unlink(tmp);
    if (generate(tmp, !ed) != 0)
        return 1;
    if (rename(tmp, cfg->rec_sign_key_file) != 0) {
        fprintf(stderr, "sedge: %s: %s\n", cfg->rec_sign_key_file, strerror(errno));
        unlink(tmp);
        return 1;
    }
    printf("retired key %s into %s\n", id, path);
    return 0;
}

int cmd_record_key(int argc, char **argv)
{
    static const struct option opts[] = {
        {"public", no_argument, NULL, 'p'},   {"all", no_argument, NULL, 'a'},
        {"id", no_argument, NULL, 'i'},       {"generate", no_argument, NULL, 'g'},
        {"hmac", no_argument, NULL, 'H'},     {"rotate", no_argument, NULL, 'r'},
        {"out", required_argument, NULL, 'o'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *out = NULL;
    bool pub = false, all = false, id = false, gen = false, hmac = false, rot = false;
    struct se_config *cfg = NULL;
    uint8_t key[REC_KEY_MAX];
    size_t len = 0;
    int c, rc = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "paigHro:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': pub = true; break;
        case 'a': all = true; break;
        case 'i': id = true; break;
        case 'g': gen = true; break;
        case 'H': hmac = true; break;
        case 'r': rot = true; break;
        case 'o': out = optarg; break;
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || pub + id + gen + rot != 1 || (all && !pub) || (hmac && !gen) ||
        (out && !gen)) {
        usage(stderr);
        return 2;
    }
    if (gen && out)
        return generate(out, hmac);
    if (cli_open(config, &cfg, NULL) != 0)
        return 1;
    if (gen) {
        rc = cfg->rec_sign_key_file[0] ? generate(cfg->rec_sign_key_file, hmac) : 1;
        if (!cfg->rec_sign_key_file[0])
            fprintf(stderr, "sedge: no recording.sign_key_file (or recording.dir) in the "
                            "configuration; use --out FILE\n");
        else if (rc == 0)
            printf("%s\n", cfg->rec_sign_key_file);
    } else if (load(cfg, key, &len) == 0) {
        if (pub)
            rc = all ? print_all(cfg, key, len) : print_public(key, len, false);
        else if (id) {
            char kid[REC_KEY_ID_LEN + 1];
            rc = rec_key_id(key, len, kid) < 0;
            if (!rc)
                printf("%s %s\n", kid, rec_key_alg(key, len));
        } else {
            rc = rotate(cfg, key, len);
        }
    }
    OPENSSL_cleanse(key, sizeof(key));
    se_config_free(cfg);
    return rc;
}
