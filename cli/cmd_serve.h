/*
 * cmd_serve.h - what the serve command's files share (cmd_serve.c, the
 * control loop; cmd_serve_db.c, session rows on their way to SQLite).
 * Private to cli/.
 */
#ifndef SE_CLI_CMD_SERVE_H
#define SE_CLI_CMD_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct anchor_event;
struct pol_db;
struct relay_server;

/*
 * The session journal: relay events wait here, in order, until the
 * database takes them. A busy, full or vanished database never blocks
 * the control thread (writes are tried without waiting for a lock and
 * retried with backoff) and never loses an event silently: the backlog
 * is bounded (JOURNAL_MAX events; past it the oldest counter updates go
 * first, then newcomers), and every event not written is counted and
 * logged. Control thread only.
 */
struct serve_journal;

enum { JOURNAL_MAX = 65536, JOURNAL_FAILING_MS = 5000 };

struct serve_journal_stats {
    uint64_t pending;      /* events waiting for the database */
    uint64_t dropped;      /* events lost here: backlog full, or left at exit */
    uint64_t written;      /* events written */
    uint64_t write_errors; /* failed write attempts (busy, full, I/O...) */
    int64_t failing_ms;    /* how long writes have been failing; 0 = they succeed */
};

/* db is borrowed and must outlive the journal. NULL on allocation failure. */
struct serve_journal *serve_journal_new(struct pol_db *db);
/*
 * Take the relay's new events into the backlog and write what the
 * database accepts, in transactions of up to 256 events, for at most a
 * few milliseconds. Returns 1 when events are left that the database
 * would take now (call again soon), else 0.
 */
int serve_journal_flush(struct serve_journal *j, struct relay_server *srv);
/*
 * At exit: take the last events and write them, waiting up to wait_ms for
 * a lock; what is still left is counted lost and logged. Then frees j.
 */
/* An anchor session event (START, UPDATE or END; the RECORD kind is the
 * control loop's) into the backlog; the journal owns e from here. */
void serve_journal_push_anchor(struct serve_journal *j, struct anchor_event *e);
void serve_journal_close(struct serve_journal *j, struct relay_server *srv, int wait_ms);
void serve_journal_stats(const struct serve_journal *j, struct serve_journal_stats *out);
/* The last write error ("database is locked", "database or disk is
 * full", ...), "" if the last write succeeded. Borrowed. */
const char *serve_journal_error(const struct serve_journal *j);

/* ---- cmd_serve_os.c: descriptors and privileges ---- */
struct se_config;
/* File descriptors the configured limits need at once. */
unsigned long serve_fds_needed(const struct se_config *c);
/* Raise RLIMIT_NOFILE to that (the hard limit too where allowed); 1 and a
 * warning with the figures when it cannot be had, else 0. */
int serve_fd_limit(const struct se_config *c);
/* With `user`/`group` set: become them (from root), keeping only
 * CAP_NET_BIND_SERVICE (and the offload's capabilities). 0, or
 * SE_ERR_CONFIG / SE_ERR_DENIED / SE_ERR_IO with err. Single-threaded. */
int serve_drop_privileges(const struct se_config *c, char *err, size_t errlen);
/* The listeners are bound: give up CAP_NET_BIND_SERVICE. */
void serve_drop_bind_cap(const struct se_config *c);

#endif
