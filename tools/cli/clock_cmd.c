/* clock_cmd.c: `cmksim clock show|advance DURATION|speed N` — the emulator's clock, through the
 * management routes of a running `cmksim serve` (/_cmksim/clock, manage.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: cmksim clock show\n"
                 "       cmksim clock advance DURATION\n"
                 "       cmksim clock speed N\n"
                 "       (common options: --data DIR, -o json|table, --debug)\n\n"
                 "The clock of a running `cmksim serve`: every timer of the emulator (key checks,\n"
                 "token lifetimes, soft-delete purge dates, operations) reads it.\n\n"
                 "  show              the time, speed and offset from the wall clock\n"
                 "  advance DURATION  jump ahead (30m, 1h30m, 2d, PT45M); every timer due on the\n"
                 "                    way fires at its own time, in order\n"
                 "  speed N           clock seconds per wall second from now on (60 for a demo,\n"
                 "                    1 for real time, 0 to pause)\n\n"
                 "examples:\n"
                 "  cmksim clock show\n"
                 "  cmksim clock advance 30m      # the key monitor's next checks happen now\n"
                 "  cmksim clock speed 60         # one minute per second\n"
                 "  cmksim clock show -o json | jq -r .time\n\n"
                 "Note: tokens live one hour of this clock; after a jump of more than an hour,\n"
                 "clients that cache tokens (az) must log in again.\n");
}

static const struct cli_column cols[] = {
    {"Time", "time"}, {"Speed", "speed"}, {"Mode", "mode"}, {"Offset", "offset"}, {NULL, NULL},
};

int cli_clock(int argc, char **argv)
{
    struct cli_ctx ctx;
    int rc = cli_ctx_init(&ctx, "clock", &argc, argv);
    if (rc != 0)
        return rc;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_EX_OK;
        }
    const char *sub = argc > 1 ? argv[1] : "show";
    json_t *body = NULL, *out = NULL;
    const char *method = "GET", *path = "/_cmksim/clock";
    if (!strcmp(sub, "show")) {
        if (argc > 2)
            return cli_usage_error("clock", "unexpected argument '%s'", argv[2]);
    } else if (!strcmp(sub, "advance")) {
        if (argc != 3)
            return cli_usage_error("clock", "advance wants one DURATION (e.g. 30m)");
        method = "POST";
        path = "/_cmksim/clock/advance";
        body = json_pack("{s:s}", "duration", argv[2]);
    } else if (!strcmp(sub, "speed")) {
        if (argc != 3)
            return cli_usage_error("clock", "speed wants one number (e.g. 60)");
        method = "POST";
        path = "/_cmksim/clock/speed";
        body = json_pack("{s:s}", "speed", argv[2]);
    } else {
        return cli_usage_error("clock", "unknown subcommand '%s' (show, advance, speed)", sub);
    }
    char url[256];
    snprintf(url, sizeof(url), CLI_MGMT "%s", path);
    rc = cli_call(&ctx, "mgmt", method, url, body, &out);
    json_decref(body);
    if (rc == 0)
        cli_output(&ctx, out, cols);
    json_decref(out);
    cli_ctx_close(&ctx);
    return rc;
}
