/* cli.h: the subcommands of the cmksim command line, one file each (serve.c, env.c, ...).
 *
 * Each subcommand is `int cli_NAME(int argc, char **argv)` returning the process exit code:
 * 0 success, 1 failure reported by a service, 64 bad usage (EX_USAGE), 70 internal error.
 */
#ifndef CMK_CLI_H
#define CMK_CLI_H

#define CLI_EX_OK       0
#define CLI_EX_FAIL     1
#define CLI_EX_USAGE    64
#define CLI_EX_SOFTWARE 70

#define CLI_DEFAULT_DATA   ".cmksim"
#define CLI_DEFAULT_LISTEN "127.0.0.1:8443"
#define CLI_DEFAULT_PROXY  "127.0.0.1:8480"

#include <stddef.h>

int cli_serve(int argc, char **argv);
int cli_env(int argc, char **argv);
int cli_run(int argc, char **argv);
/* Clients of a running serve (client.h): */
int cli_key(int argc, char **argv);
int cli_hsm(int argc, char **argv);
int cli_clock(int argc, char **argv);
int cli_fault(int argc, char **argv);
int cli_audit(int argc, char **argv);
int cli_health(int argc, char **argv);
int cli_psql(int argc, char **argv);

/* "ADDR:PORT" (or ":PORT", or "PORT") into addr/port; 0 on success. */
int cli_parse_listen(const char *s, char *addr, size_t addrsz, int *port);
/* Print "cmksim NAME: message" to stderr and return CLI_EX_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
