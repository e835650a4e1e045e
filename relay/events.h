/*
 * events.h - an allocation's session events to the control thread
 * (events.c): START, UPDATE every policy.session_update seconds while it
 * carries traffic, END. Posting never blocks; a full queue drops the
 * event and counts it. Worker thread only.
 */
#ifndef SE_RELAY_EVENTS_H
#define SE_RELAY_EVENTS_H

struct allocation;

/* A new allocation: give it a session id and post START under rule_name. */
void events_start(struct allocation *a, const char *rule_name);
/* The rule that governs a changed: post an UPDATE naming it. */
void events_rule_changed(struct allocation *a, const char *rule_name);
/* Once a second: an UPDATE when it is due and something moved. */
void events_cron(struct allocation *a);
/* The allocation ends (alloc_free), for reason. */
void events_end(struct allocation *a, const char *reason);

#endif
