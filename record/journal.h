/*
 * journal.h - the per-recording journal: a hash chain of committed
 * fragments, so a recording cut short by a crash can be sealed later with
 * a signed manifest covering exactly the fragments that are on disk.
 *
 * journal.log is a text file in the recording directory, one line per
 * event, each ending in the chain value (hex SHA-256 of the previous
 * chain value and the line's text), the first chained to the header:
 *
 *     sedge-journal v1 <recording id>
 *     file <name> <wall start, ms since the epoch> <chain>
 *     frag <name> <offset> <length> <sha256 of the bytes> <media end, ms> <chain>
 *     end <complete|failed> <chain>
 *     seal <status> <wall time, ms> <chain>
 *
 * The writer appends a frag line after each fragment is in its file (one
 * write(2) per line) and fdatasyncs the journal right after the media file
 * (recording.fsync_interval). A frag line can reach the disk before its
 * bytes do (power loss): sealing re-reads every fragment and stops at the
 * first whose hash does not match. The journal's fd holds an exclusive
 * flock(2) while the recording runs, so another process can tell a live
 * recording from one whose process died.
 *
 * Not thread-safe: the recorder thread writes it.
 */
#ifndef SE_REC_JOURNAL_H
#define SE_REC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_JOURNAL_NAME "journal.log"

enum { REC_JOURNAL_LINE_MAX = 512 };

struct rec_journal;

/*
 * Create dir/journal.log (must not exist), lock it, write and fsync the
 * header, fsync dir. Returns 0, SE_ERR_IO (errno logged) or SE_ERR_NOMEM.
 */
int rec_journal_create(struct rec_journal **out, const char *dir, const char *id);

/* A media file was created; its bytes start at wall time wall_us. */
int rec_journal_file(struct rec_journal *j, const char *name, int64_t wall_us);

/* Bytes [off, off + len) of name, hashing to sha256, are in the file;
 * the media in it ends at media_end_us (file time). On a failed append
 * the journal is cut back to its last whole line and SE_ERR_IO returned
 * (the caller must not count the fragment as written). */
int rec_journal_frag(struct rec_journal *j, const char *name, uint64_t off, uint64_t len,
                     const uint8_t sha256[32], int64_t media_end_us);

/* fdatasync the journal (after the media files). 0 or SE_ERR_IO. */
int rec_journal_sync(struct rec_journal *j);

/* The recording ended ("complete" or "failed"): a last line, fsync'd. */
int rec_journal_end(struct rec_journal *j, const char *state);

/* Once an append failed, every later one fails too. */
bool rec_journal_failed(const struct rec_journal *j);

/* Close the file (releasing the lock). NULL is a no-op. */
void rec_journal_close(struct rec_journal *j);

/* ---- reading (sealing after a crash) ---- */

struct rec_journal_frag {
    uint64_t off, len;
    uint8_t sha256[32];
    int64_t media_end_us;
};

struct rec_journal_seg {
    char name[64];
    int64_t wall_us;
    struct rec_journal_frag *frags;
    size_t n, cap;
};

struct rec_journal_state {
    char id[64];
    struct rec_journal_seg *segs;
    size_t n_segs;
    size_t valid_len; /* bytes of whole, chained lines */
    bool ended;       /* an end or seal line */
    char end_state[16];
    uint8_t chain[32]; /* after the last valid line */
};

/*
 * Parse a journal from fd (bounded: REC_JOURNAL_READ_MAX bytes). Lines
 * after the first malformed or unchained one are ignored; a frag whose
 * offset does not continue its file ends that file's list. 0, or
 * SE_ERR_PARSE (no valid header) / SE_ERR_IO / SE_ERR_NOMEM. Free with
 * rec_journal_state_free().
 */
int rec_journal_read(int fd, struct rec_journal_state *st);
void rec_journal_state_free(struct rec_journal_state *st);

/* Append one chained line to fd at st->valid_len (sealing: "seal ...").
 * 0 or SE_ERR_IO. */
int rec_journal_append(int fd, struct rec_journal_state *st, const char *text);

#endif
