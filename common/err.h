/* err.h: result codes and the error detail every layer fills in.
 *
 * Functions return 0 or a negative CMK_E* code. Details for the client go into an optional
 * struct cmk_err (HTTP status, the service's error code, an inner code, a message); the
 * router turns it into the service's envelope {"error":{"code","message","innererror"}} in
 * one place (router.c). The table of codes is written once, as an X-macro.
 */
#ifndef CMK_ERR_H
#define CMK_ERR_H

#include <stdarg.h>

#define CMK_ERRORS(X)                                                                              \
    X(CMK_OK, 0, "ok")                                                                             \
    X(CMK_EINVAL, -1, "invalid argument")                                                          \
    X(CMK_ENOTFOUND, -2, "not found")                                                              \
    X(CMK_EEXIST, -3, "already exists")                                                            \
    X(CMK_EDENIED, -4, "access denied")                                                            \
    X(CMK_EAUTH, -5, "not authenticated")                                                          \
    X(CMK_ECONFLICT, -6, "conflict")                                                               \
    X(CMK_ELIMIT, -7, "limit exceeded")                                                            \
    X(CMK_EIO, -8, "input/output error")                                                           \
    X(CMK_ECRYPTO, -9, "cryptographic failure")                                                    \
    X(CMK_EUNAVAIL, -10, "unavailable")                                                            \
    X(CMK_ETHROTTLED, -11, "throttled")                                                            \
    X(CMK_EPARSE, -12, "malformed input")                                                          \
    X(CMK_EINTERNAL, -13, "internal error")

enum cmk_result {
#define CMK_ERR_ENUM(name, value, text) name = value,
    CMK_ERRORS(CMK_ERR_ENUM)
#undef CMK_ERR_ENUM
};

struct cmk_err {
    int rc;             /* the CMK_E* code returned alongside */
    int status;         /* HTTP status the client sees (0: not set) */
    char code[64];      /* service error code, e.g. "KeyNotFound" */
    char inner[64];     /* innererror.code, may be empty */
    char message[1024]; /* human-readable, never holds secrets */
};

/* Text of a CMK_E* code ("not found"). */
const char *cmk_strerror(int rc);

/* Fill *err (which may be NULL) and return rc, so one line sets and returns. */
int cmk_err_set(struct cmk_err *err, int rc, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int cmk_err_vset(struct cmk_err *err, int rc, int status, const char *code, const char *fmt,
                 va_list ap);
/* Set innererror.code on an error already set. */
void cmk_err_inner(struct cmk_err *err, const char *inner);
void cmk_err_clear(struct cmk_err *err);

#endif
