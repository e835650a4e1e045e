/*
 * store.c - groups and rules in SQLite, and compiling them into the
 * frozen rule set the relay reads.
 *
 * Every write runs in one transaction with its audit row, which carries
 * the object before and after as JSON. A rule is compiled against the
 * current groups before it is written, so a malformed rule is refused
 * with a message naming the field and nothing reaches the database.
 * Loading trusts nothing either: rows are compiled again, and one that
 * no longer compiles is reported loudly.
 */
#include "core/err.h"
#include "core/log.h"
#include "policy/db.h"
#include "policy/db_internal.h"
#include "policy/rules.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char rule_columns[] =
    "id, priority, name, action, users, groups, origins, peers, clients, transports, days, "
    "hours, max_kbps, max_allocs, max_duration, record, retention_days";

/* Fill spec from a row selected with rule_columns (texts borrowed). */
static void row_to_spec(sqlite3_stmt *st, struct pol_rule_spec *s)
{
#define TXT(i) ((const char *)sqlite3_column_text(st, (i)))
    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(st, 0);
    s->priority = sqlite3_column_int64(st, 1);
    s->name = TXT(2);
    s->action = TXT(3);
    s->users = TXT(4);
    s->groups = TXT(5);
    s->origins = TXT(6);
    s->peers = TXT(7);
    s->clients = TXT(8);
    s->transports = TXT(9);
    s->days = TXT(10);
    s->hours = TXT(11);
    s->max_kbps = sqlite3_column_int64(st, 12);
    s->max_allocs = sqlite3_column_int64(st, 13);
    s->max_duration = sqlite3_column_int64(st, 14);
    s->record = TXT(15);
    s->retention_days = sqlite3_column_int64(st, 16);
#undef TXT
}

char *pol_rule_spec_json(const struct pol_rule_spec *s)
{
    json_t *o = json_object();
    char *text;

    if (!o)
        return NULL;
    json_object_set_new(o, "id", json_integer(s->id));
    json_object_set_new(o, "priority", json_integer(s->priority));
    json_object_set_new(o, "name", json_string(s->name ? s->name : ""));
    json_object_set_new(o, "action", json_string(s->action ? s->action : ""));
    const struct {
        const char *key, *val;
    } lists[] = {{"users", s->users},     {"groups", s->groups},         {"origins", s->origins},
                 {"peers", s->peers},     {"clients", s->clients},       {"transports", s->transports},
                 {"days", s->days},       {"hours", s->hours}};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        json_object_set_new(o, lists[i].key,
                            lists[i].val && lists[i].val[0] ? json_string(lists[i].val)
                                                            : json_null());
    json_object_set_new(o, "max_kbps", json_integer(s->max_kbps));
    json_object_set_new(o, "max_allocs", json_integer(s->max_allocs));
    json_object_set_new(o, "max_duration", json_integer(s->max_duration));
    json_object_set_new(o, "record", json_string(s->record && s->record[0] ? s->record : "never"));
    json_object_set_new(o, "retention", json_integer(s->retention_days));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* JSON of rule id as stored now, or NULL. Caller frees. */
static char *rule_json_by_id(struct pol_db *db, int64_t id)
{
    char sql[256];
    sqlite3_stmt *st;
    char *out = NULL;

    snprintf(sql, sizeof(sql), "SELECT %s FROM rules WHERE id = ?", rule_columns);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        struct pol_rule_spec s;
        row_to_spec(st, &s);
        out = pol_rule_spec_json(&s);
    }
    sqlite3_finalize(st);
    return out;
}

int pol_db_finish_tx(struct pol_db *db, int rc)
{
    if (rc == 0 && pol_db_commit_write(db) < 0)
        rc = SE_ERR_DB;
    if (rc < 0)
        pol_db_abort(db);
    return rc;
}

/* ---- groups ---- */

static int64_t group_id(struct pol_db *db, const char *name)
{
    sqlite3_stmt *st;
    int64_t id = 0;

    if (sqlite3_prepare_v2(db->db, "SELECT id FROM groups WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* A group or member name: 1-255 bytes, no ',' (the list separator),
 * nothing a terminal acts on (control bytes, bidi overrides, bad UTF-8). */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 255 && !strchr(s, ',') && se_text_clean(s, n);
}

int pol_db_group_add(struct pol_db *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, step;

    if (!valid_name(name))
        return SE_ERR_INVAL;
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (sqlite3_prepare_v2(db->db, "INSERT INTO groups(name, created_at) VALUES(?, ?)", -1, &st,
                           NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT) {
        rc = SE_ERR_EXISTS;
        goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    rc = pol_db_audit_row(db, "group.add", name, NULL, NULL, "{\"members\":[]}");
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

/* Ids of rules that name group (comma list) into buf; count returned. */
static int rules_naming_group(struct pol_db *db, const char *group, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int n = 0;
    size_t o = 0;

    buf[0] = '\0';
    if (sqlite3_prepare_v2(db->db, "SELECT id, groups FROM rules WHERE groups IS NOT NULL", -1,
                           &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 1);
        char item[256];
        size_t gl = strlen(group);
        bool hit = false;
        for (const char *p = g; p && *p && !hit;) {
            while (*p == ' ' || *p == ',')
                p++;
            size_t k = strcspn(p, ",");
            size_t t = k;
            while (t > 0 && p[t - 1] == ' ')
                t--;
            if (t == gl && t < sizeof(item) && strncmp(p, group, gl) == 0)
                hit = true;
            p += k;
        }
        if (hit) {
            int w = snprintf(buf + o, len - o, "%s#%lld", n ? ", " : "",
                             (long long)sqlite3_column_int64(st, 0));
            if (w > 0 && (size_t)w < len - o)
                o += (size_t)w;
            n++;
        }
    }
    sqlite3_finalize(st);
    return n;
}

int pol_db_group_del(struct pol_db *db, const char *name, char *err, size_t errlen)
{
    char ids[256];
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, n;

    err[0] = '\0';
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if ((n = rules_naming_group(db, name, ids, sizeof(ids))) < 0)
        goto out;
    if (n > 0) {
        snprintf(err, errlen, "group \"%s\" is used by rule %s: delete or change those first",
                 name, ids);
        rc = SE_ERR_INVAL;
        goto out;
    }
    if (sqlite3_prepare_v2(db->db, "DELETE FROM groups WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(db->db) == 0) {
        rc = SE_ERR_NOTFOUND;
        goto out;
    }
    rc = pol_db_audit_row(db, "group.del", name, NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

/* Is there a local account (any realm, enabled or not) of this name? */
static int local_user(struct pol_db *db, const char *name)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(db->db, "SELECT 1 FROM users WHERE name = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return SE_ERR_DB;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

static const char unknown_user_hint[] =
    "no local user \"%s\" (a typo? see `sedge user list`); a user whom the identity provider "
    "vouches for has no local account: pass --external (API: \"%s\": true)";

int pol_db_group_member(struct pol_db *db, const char *group, const char *user, bool add,
                        bool external, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB, step, known;
    int64_t gid;

    err[0] = '\0';
    if (!valid_name(user)) {
        snprintf(err, errlen, "user name must be 1-255 characters without ',' or control "
                              "characters");
        return SE_ERR_INVAL;
    }
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if ((gid = group_id(db, group)) <= 0) {
        rc = gid == 0 ? SE_ERR_NOTFOUND : SE_ERR_DB;
        goto out;
    }
    if (add && !external && (known = local_user(db, user)) <= 0) {
        rc = known < 0 ? SE_ERR_DB : SE_ERR_INVAL;
        if (known == 0)
            snprintf(err, errlen, unknown_user_hint, user, "external");
        goto out;
    }
    if (sqlite3_prepare_v2(db->db,
                           add ? "INSERT INTO group_members(group_id, user) VALUES(?, ?)"
                               : "DELETE FROM group_members WHERE group_id = ? AND user = ?",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, gid);
    sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT) {
        rc = SE_ERR_EXISTS;
        goto out;
    }
    if (step != SQLITE_DONE)
        goto out;
    if (sqlite3_changes(db->db) == 0) {
        rc = SE_ERR_NOTFOUND;
        goto out;
    }
    rc = pol_db_audit_row(db, add ? "group.member.add" : "group.member.del", group, user, NULL,
                          NULL);
out:
    sqlite3_finalize(st);
    return pol_db_finish_tx(db, rc);
}

int pol_db_group_list(struct pol_db *db, pol_group_cb cb, void *arg)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT g.name, COALESCE(group_concat(m.user, ','), '') FROM groups g "
                           "LEFT JOIN (SELECT * FROM group_members ORDER BY user) m "
                           "ON m.group_id = g.id GROUP BY g.id ORDER BY g.name",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *members = (const char *)sqlite3_column_text(st, 1);
        if (!name)
            continue;
        if ((rc = cb(name, members ? members : "", arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

/* ---- compiling ---- */

/* Groups and disabled users into r (inside the caller's read transaction). */
static int load_groups(struct pol_db *db, struct pol_rules *r)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if (sqlite3_prepare_v2(db->db,
                           "SELECT g.name, m.user FROM groups g LEFT JOIN group_members m "
                           "ON m.group_id = g.id",
                           -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *g = (const char *)sqlite3_column_text(st, 0);
        const char *u = (const char *)sqlite3_column_text(st, 1);
        if (!g)
            continue;
        if ((rc = pol_rules_add_group(r, g)) < 0 || (u && (rc = pol_rules_add_member(r, g, u)) < 0))
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    if (sqlite3_prepare_v2(db->db, "SELECT name FROM users WHERE disabled != 0", -1, &st, NULL) !=
        SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *u = (const char *)sqlite3_column_text(st, 0);
        if (u && (rc = pol_rules_add_disabled(r, u)) < 0)
            break;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}

int pol_db_load_rules(struct pol_db *db, bool default_allow, struct pol_rules **out, int *skipped)
{
    struct pol_rules *r = pol_rules_new(default_allow);
    sqlite3_stmt *st = NULL;
    char sql[256], err[512];
    int rc = SE_ERR_DB, step;

    *out = NULL;
    *skipped = 0;
    if (!r)
        return SE_ERR_NOMEM;
    if (pol_db_exec(db, "BEGIN") < 0)
        goto out_nocommit;
    if ((rc = load_groups(db, r)) < 0)
        goto out;
    rc = SE_ERR_DB;
    snprintf(sql, sizeof(sql), "SELECT %s FROM rules ORDER BY priority, id", rule_columns);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_rule_spec s;
        row_to_spec(st, &s);
        int k = pol_rules_add(r, &s, err, sizeof(err));
        if (k == SE_ERR_NOMEM) {
            rc = k;
            goto out;
        }
        if (k < 0) {
            (*skipped)++;
            if (!s.action || strcmp(s.action, "allow") != 0) {
                /* Dropping a deny (or unknown) rule would open what it closed. */
                se_err_log("policy: rule #%lld does not compile (%s); refusing the new rule set",
                           (long long)s.id, err);
                rc = SE_ERR_INVAL;
                goto out;
            }
            se_err_log("policy: rule #%lld skipped, it does not compile: %s", (long long)s.id, err);
        }
    }
    if (step != SQLITE_DONE)
        goto out;
    rc = 0;
out:
    sqlite3_finalize(st);
    pol_db_exec(db, "COMMIT");
out_nocommit:
    if (rc < 0) {
        pol_rules_free(r);
        return rc;
    }
    pol_rules_freeze(r);
    *out = r;
    return 0;
}

/* ---- rules ---- */

/* Every name in the users list has a local account (else SE_ERR_INVAL). */
static int check_users_known(struct pol_db *db, const char *users, char *err, size_t errlen)
{
    for (const char *p = users; p && *p;) {
        char name[256];
        size_t k = strcspn(p, ","), t = k;
        const char *b = p;
        while (*b == ' ' && t > 0)
            b++, t--;
        while (t > 0 && b[t - 1] == ' ')
            t--;
        p += k + (p[k] == ',');
        if (t == 0 || t >= sizeof(name))
            continue; /* compiling refused those already */
        memcpy(name, b, t);
        name[t] = '\0';
        int known = local_user(db, name);
        if (known < 0)
            return SE_ERR_DB;
        if (!known) {
            char msg[512];
            snprintf(msg, sizeof(msg), unknown_user_hint, name, "external_users");
            snprintf(err, errlen, "users: %s", msg);
            return SE_ERR_INVAL;
        }
    }
    return 0;
}

int pol_db_rule_add(struct pol_db *db, const struct pol_rule_spec *spec, int64_t *id, char *err,
                    size_t errlen)
{
    struct pol_rules *scratch = pol_rules_new(false);
    struct pol_rule_spec s = *spec;
    sqlite3_stmt *st = NULL;
    char *after = NULL;
    int rc = SE_ERR_DB;

    err[0] = '\0';
    if (!scratch)
        return SE_ERR_NOMEM;
    if (s.name && !se_text_clean(s.name, strlen(s.name))) {
        snprintf(err, errlen, "name: control characters, bidi overrides or bytes that are not "
                              "UTF-8 are not allowed in a label admins read");
        pol_rules_free(scratch);
        return SE_ERR_INVAL;
    }
    if (pol_db_begin_write(db) < 0) {
        pol_rules_free(scratch);
        return SE_ERR_DB;
    }
    if ((rc = load_groups(db, scratch)) < 0 || (rc = pol_rules_add(scratch, &s, err, errlen)) < 0 ||
        (rc = pol_check_cidrs_exact("peers", s.peers, err, errlen)) < 0 ||
        (rc = pol_check_cidrs_exact("clients", s.clients, err, errlen)) < 0 ||
        (!s.external_users && (rc = check_users_known(db, s.users, err, errlen)) < 0))
        goto out;
    rc = SE_ERR_DB;
    if (s.priority <= 0) {
        sqlite3_stmt *q;
        if (sqlite3_prepare_v2(db->db, "SELECT COALESCE(MAX(priority), 0) + 10 FROM rules", -1,
                               &q, NULL) != SQLITE_OK)
            goto out;
        if (sqlite3_step(q) == SQLITE_ROW)
            s.priority = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
    }
    if (sqlite3_prepare_v2(db->db,
                           "INSERT INTO rules(priority, name, action, users, groups, origins, "
                           "peers, clients, transports, days, hours, max_kbps, max_allocs, "
                           "max_duration, record, created_at, retention_days) "
                           "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    const char *texts[] = {s.name ? s.name : "", s.action, s.users, s.groups, s.origins,
                           s.peers, s.clients, s.transports, s.days, s.hours};
    sqlite3_bind_int64(st, 1, s.priority);
    for (int i = 0; i < 10; i++) {
        if (texts[i] && (i < 2 || texts[i][0]))
            sqlite3_bind_text(st, i + 2, texts[i], -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, i + 2);
    }
    sqlite3_bind_int64(st, 12, s.max_kbps);
    sqlite3_bind_int64(st, 13, s.max_allocs);
    sqlite3_bind_int64(st, 14, s.max_duration);
    sqlite3_bind_text(st, 15, s.record && s.record[0] ? s.record : "never", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 16, (sqlite3_int64)time(NULL));
    sqlite3_bind_int64(st, 17, s.retention_days);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    *id = sqlite3_last_insert_rowid(db->db);
    char obj[32];
    snprintf(obj, sizeof(obj), "rule#%lld", (long long)*id);
    after = rule_json_by_id(db, *id);
    rc = pol_db_audit_row(db, "rule.add", obj, NULL, NULL, after);
out:
    sqlite3_finalize(st);
    free(after);
    pol_rules_free(scratch);
    return pol_db_finish_tx(db, rc);
}

int pol_db_rule_del(struct pol_db *db, int64_t id)
{
    char *before = NULL, obj[32];
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB;

    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (!(before = rule_json_by_id(db, id))) {
        rc = SE_ERR_NOTFOUND;
        goto out;
    }
    if (sqlite3_prepare_v2(db->db, "DELETE FROM rules WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    snprintf(obj, sizeof(obj), "rule#%lld", (long long)id);
    rc = pol_db_audit_row(db, "rule.del", obj, NULL, before, NULL);
out:
    sqlite3_finalize(st);
    free(before);
    return pol_db_finish_tx(db, rc);
}

int pol_db_rule_move(struct pol_db *db, int64_t id, int64_t priority)
{
    char *before = NULL, *after = NULL, obj[32];
    sqlite3_stmt *st = NULL;
    int rc = SE_ERR_DB;

    if (priority <= 0)
        return SE_ERR_INVAL;
    if (pol_db_begin_write(db) < 0)
        return SE_ERR_DB;
    if (!(before = rule_json_by_id(db, id))) {
        rc = SE_ERR_NOTFOUND;
        goto out;
    }
    if (sqlite3_prepare_v2(db->db, "UPDATE rules SET priority = ? WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        goto out;
    sqlite3_bind_int64(st, 1, priority);
    sqlite3_bind_int64(st, 2, id);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto out;
    after = rule_json_by_id(db, id);
    snprintf(obj, sizeof(obj), "rule#%lld", (long long)id);
    rc = pol_db_audit_row(db, "rule.move", obj, NULL, before, after);
out:
    sqlite3_finalize(st);
    free(before);
    free(after);
    return pol_db_finish_tx(db, rc);
}

int pol_db_rule_list(struct pol_db *db, pol_rule_cb cb, void *arg)
{
    char sql[256];
    sqlite3_stmt *st;
    int rc = 0, step;

    snprintf(sql, sizeof(sql), "SELECT %s FROM rules ORDER BY priority, id", rule_columns);
    if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return SE_ERR_DB;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct pol_rule_spec s;
        row_to_spec(st, &s);
        if ((rc = cb(&s, arg)) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = SE_ERR_DB;
    sqlite3_finalize(st);
    return rc;
}
