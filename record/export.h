/*
 * export.h - one recording as a tar archive that can be handed over and
 * verified offline, planned as a list of parts so it can be streamed
 * (API) or written (CLI) without holding any media in memory.
 *
 *   <id>/recording/...          the recording directory: media, metadata.json,
 *                               journal.log, manifest.sha256, manifest.sig
 *   <id>/public-key.pem         the Ed25519 public key the manifest names (if known)
 *   <id>/manifest.sig.bin       the raw signature, for openssl pkeyutl
 *   <id>/VERIFY.txt             how to verify with sedge, or with openssl + sha256sum
 *
 * POSIX ustar (sizes past 8 GiB in the GNU base-256 form). The files are
 * opened when the plan is made, so a purge that removes the recording
 * while the archive is being sent does not cut it short.
 */
#ifndef SE_REC_EXPORT_H
#define SE_REC_EXPORT_H

#include <stddef.h>
#include <stdint.h>

struct rec_keyring;

enum { REC_TAR_BLOCK = 512 };

/* Bytes from memory (blob) or from an open file (fd >= 0, [off, off+len)). */
struct rec_export_part {
    const uint8_t *blob;
    int fd;
    uint64_t off, len;
};

struct rec_export {
    struct rec_export_part *parts;
    size_t n, cap;
    uint64_t total; /* bytes of the whole archive */
    void **owned;   /* blobs and buffers to free */
    size_t n_owned, cap_owned;
    int *fds;
    size_t n_fds, cap_fds;
};

/*
 * Plan the archive of recording id in dir. Only files the manifest lists
 * (and the manifest and its signature) go in; a listed file that is
 * missing, not a regular file, or of another size than the manifest says
 * refuses the plan (SE_ERR_AUTH, err says which: the directory was
 * tampered with). SE_ERR_NOTFOUND: no manifest (not sealed). kr may be
 * NULL. Free with rec_export_free().
 */
int rec_export_plan(const char *dir, const char *id, const struct rec_keyring *kr,
                    struct rec_export *x, char *err, size_t errlen);
void rec_export_free(struct rec_export *x);

/* A "plan" of one range of one open file (takes ownership of fd): a
 * download. 0 or SE_ERR_NOMEM (fd closed). */
int rec_export_file(struct rec_export *x, int fd, uint64_t off, uint64_t len);

/* A ustar header block for a regular file (0644) of size bytes. 0, or
 * SE_ERR_TOOBIG if name does not fit in 100 bytes. */
int rec_tar_header(uint8_t out[REC_TAR_BLOCK], const char *name, uint64_t size, int64_t mtime);

#endif
