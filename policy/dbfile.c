/*
 * dbfile.c - the database as a file on disk: creating it only when asked,
 * and noticing when it disappears under the running daemon.
 *
 * The database is created only by an explicit request (`sedge init`),
 * never as a side effect of opening it: a daemon or CLI that silently
 * created an empty file after the real one was lost would serve with no
 * users, no tokens and no policy, and nobody would notice.
 *
 * The database holds TURN REST secrets in clear and every user's keys, so
 * it is created owner-only (0600, missing directories 0700; SQLite gives
 * its -wal, -shm and -journal files the same mode) and a database or
 * side file that group or others may read or write is refused at open,
 * with the chmod that fixes it.
 *
 * A daemon keeps its SQLite connection open for its whole life; if the
 * file is deleted or replaced (rename over it, restore from a backup)
 * the connection keeps writing into an unlinked inode and every write is
 * lost. pol_db_check_file() compares the path's device and inode with
 * the ones seen at open; once they differ the connection is marked lost
 * (for good): an SQLite authorizer then refuses every write, and
 * pol_db_errmsg() says why.
 */
#include "core/err.h"
#include "policy/db.h"
#include "policy/db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p for the directory part of path, each missing level 0700. */
static int make_dirs(const char *path, char *err, size_t errlen)
{
    char dir[SE_POL_DB_PATH_MAX];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (stat(dir, &st) == 0)
        return 0;
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
            return SE_ERR_IO;
        }
        *p = c;
        if (c == '\0')
            return 0;
    }
}

/*
 * Refuse a file group or others may read or write, as sshd refuses a
 * host key: the database holds TURN REST secrets in clear and every
 * user's keys, and SQLite's side files hold copies of its pages.
 */
static int check_private(const char *file, const char *db, char *err, size_t errlen)
{
    struct stat st;

    if (stat(file, &st) < 0 || !(st.st_mode & 077))
        return 0;
    snprintf(err, errlen,
             "%s is readable or writable by group or others (mode 0%o): the database holds TURN "
             "REST secrets and user keys; run chmod 600 %s*, then start again",
             file, (unsigned)(st.st_mode & 0777), db);
    return SE_ERR_DB;
}

int pol_dbfile_prepare(const char *path, bool create, bool *created, char *err, size_t errlen)
{
    struct stat st;
    int fd;

    *created = false;
    if (strlen(path) >= SE_POL_DB_PATH_MAX) {
        snprintf(err, errlen, "database path %s is too long", path);
        return SE_ERR_INVAL;
    }
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            snprintf(err, errlen, "database %s is not a regular file", path);
            return SE_ERR_DB;
        }
        static const char *const side[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
            char f[SE_POL_DB_PATH_MAX + 16];
            snprintf(f, sizeof(f), "%s%s", path, side[i]);
            if (check_private(f, path, err, errlen) < 0)
                return SE_ERR_DB;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "cannot open database %s: %s", path, strerror(errno));
        return SE_ERR_IO;
    }
    if (!create) {
        snprintf(err, errlen, "database %s does not exist", path);
        return SE_ERR_NOTFOUND;
    }
    if (make_dirs(path, err, errlen) < 0)
        return SE_ERR_IO;
    /* Owner-only from the first byte: SQLite gives its -wal, -shm and
     * -journal files the database file's permissions. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create database %s: %s", path, strerror(errno));
        return SE_ERR_IO;
    }
    close(fd);
    *created = true;
    return 0;
}

/* Refuse writes once the file is gone: they would land in an unlinked
 * inode and be lost with the process. Reads stay possible. */
static int authorizer(void *arg, int action, const char *a, const char *b, const char *c,
                      const char *d)
{
    struct pol_db *db = arg;

    (void)a;
    (void)b;
    (void)c;
    (void)d;
    if (!db->lost)
        return SQLITE_OK;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    default:
        return SQLITE_DENY;
    }
}

int pol_dbfile_watch(struct pol_db *db, const char *path)
{
    struct stat st;

    snprintf(db->path, sizeof(db->path), "%s", path);
    if (stat(path, &st) < 0)
        return SE_ERR_IO;
    db->dev = st.st_dev;
    db->ino = st.st_ino;
    sqlite3_set_authorizer(db->db, authorizer, db);
    return 0;
}

int pol_db_check_file(struct pol_db *db)
{
    struct stat st;

    if (db->lost)
        return SE_ERR_NOTFOUND;
    bool gone = stat(db->path, &st) < 0;
    if (!gone && st.st_dev == db->dev && st.st_ino == db->ino)
        return 0;
    db->lost = true;
    snprintf(db->lost_why, sizeof(db->lost_why),
             "database %s was deleted or replaced while sedge ran (%s): writes are refused",
             db->path, gone ? strerror(errno) : "another file is there now");
    return SE_ERR_NOTFOUND;
}

bool pol_db_lost(const struct pol_db *db)
{
    return db->lost;
}
