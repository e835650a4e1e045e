/*
 * seal.h - sealing a recording that its process could not close (kill -9,
 * power loss, OOM): from its journal (journal.h) to a signed manifest
 * covering every complete fragment, so `sedge record verify` passes on
 * it and the catalog can call it "incomplete".
 *
 * What is kept: for every file the journal names, its journaled fragments
 * from offset 0 in order, each re-read and re-hashed; the first fragment
 * that is short or does not hash to its journal line ends the file, which
 * is cut there (bytes written after the last journaled fragment are cut
 * too: nothing proves they form a whole fragment). A file left with no
 * media is removed, as are files the journal never named that look like
 * sedge's own (segment files, the reserve, temporary files). metadata.json
 * is rewritten with the state, the reason, the segments as kept and a
 * "sealed" record; the journal gets a "seal" line; the manifest lists the
 * media, metadata.json and journal.log and is signed with the key given.
 */
#ifndef SE_REC_SEAL_H
#define SE_REC_SEAL_H

#include <stddef.h>
#include <stdint.h>

struct rec_seal_info {
    int files;          /* media files kept */
    uint64_t fragments; /* fragments kept */
    uint64_t bytes;     /* media bytes kept */
    uint64_t bytes_cut; /* bytes past the last good fragment, removed */
    int64_t end_us;     /* wall time the kept media ends, 0 if none */
};

/*
 * Seal dir with state (normally "incomplete") and reason. Returns 0,
 * SE_ERR_AGAIN (a live process holds the journal's lock: not ours to
 * seal), SE_ERR_EXISTS (a manifest is there already: nothing done),
 * SE_ERR_NOTFOUND (no readable journal), SE_ERR_IO. key may be NULL
 * (unsigned).
 */
int rec_seal_dir(const char *dir, const uint8_t *key, size_t key_len, const char *state,
                 const char *reason, struct rec_seal_info *info);

#endif
