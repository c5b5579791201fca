/* events.c: synchronous publish/subscribe of in-process events (see events.h). */
#include "events.h"

#include <string.h>

#include "err.h"

void cmk_events_init(struct cmk_events *e, struct cmk_clock *clock)
{
    memset(e, 0, sizeof(*e));
    e->clock = clock;
}

int cmk_events_subscribe(struct cmk_events *e, cmk_event_fn fn, void *data)
{
    if (e->n == sizeof(e->subs) / sizeof(e->subs[0]))
        return CMK_ELIMIT;
    e->subs[e->n].fn = fn;
    e->subs[e->n].data = data;
    e->n++;
    return 0;
}

void cmk_events_unsubscribe(struct cmk_events *e, cmk_event_fn fn, void *data)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->subs[i].fn == fn && e->subs[i].data == data) {
            memmove(&e->subs[i], &e->subs[i + 1], (e->n - i - 1) * sizeof(e->subs[0]));
            e->n--;
            return;
        }
    }
}

void cmk_events_publish(struct cmk_events *e, const char *kind, const char *subject, json_t *data)
{
    if (data == NULL)
        data = json_object();
    struct cmk_event ev = {
        .t = e->clock ? cmk_clock_now(e->clock) : 0,
        .kind = kind,
        .subject = subject ? subject : "",
        .data = data,
    };
    e->published++;
    /* A subscriber may unsubscribe itself while we iterate: walk a snapshot. */
    size_t n = e->n;
    struct cmk_event_sub subs[sizeof(e->subs) / sizeof(e->subs[0])];
    memcpy(subs, e->subs, n * sizeof(subs[0]));
    for (size_t i = 0; i < n; i++)
        subs[i].fn(subs[i].data, &ev);
    json_decref(data);
}
