/* events.h: in-process notifications of what happened, for whoever watches.
 *
 * Services publish facts as they happen ("server.state" Ready -> Inaccessible, "key.disabled",
 * "pg.connection.denied"); the scenario runner checks its expectations on every event (never by
 * polling), the trace writer records them, the dashboard streams them. Publishing is
 * synchronous: every subscriber runs before cmk_events_publish returns, in subscription order,
 * with the clock's current time. Subscribers must not publish recursively without bound.
 *
 * Kinds are dotted names, "<area>.<what>"; subject is the resource id or name the event is
 * about; data is a JSON object with the details (never secrets).
 */
#ifndef CMK_EVENTS_H
#define CMK_EVENTS_H

#include <jansson.h>
#include <stddef.h>

#include "clock.h"

struct cmk_event {
    cmk_time_t t;
    const char *kind;
    const char *subject;
    json_t *data; /* borrowed by subscribers */
};

typedef void (*cmk_event_fn)(void *data, const struct cmk_event *ev);

struct cmk_event_sub {
    cmk_event_fn fn;
    void *data;
};

struct cmk_events {
    struct cmk_clock *clock;
    struct cmk_event_sub subs[16];
    size_t n;
    unsigned long published;
};

void cmk_events_init(struct cmk_events *e, struct cmk_clock *clock);
/* Returns 0, or CMK_ELIMIT when 16 subscribers are already there. */
int cmk_events_subscribe(struct cmk_events *e, cmk_event_fn fn, void *data);
void cmk_events_unsubscribe(struct cmk_events *e, cmk_event_fn fn, void *data);
/* Steals data (may be NULL: an empty object is passed). */
void cmk_events_publish(struct cmk_events *e, const char *kind, const char *subject, json_t *data);

#endif
