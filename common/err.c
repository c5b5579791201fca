/* err.c: the result-code table and the error detail setters (see err.h). */
#include "err.h"

#include <stdio.h>
#include <string.h>

const char *cmk_strerror(int rc)
{
    switch (rc) {
#define CMK_ERR_CASE(name, value, text)                                                            \
    case value:                                                                                    \
        return text;
        CMK_ERRORS(CMK_ERR_CASE)
#undef CMK_ERR_CASE
    }
    return "unknown error";
}

int cmk_err_vset(struct cmk_err *err, int rc, int status, const char *code, const char *fmt,
                 va_list ap)
{
    if (err == NULL)
        return rc;
    err->rc = rc;
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
    err->inner[0] = '\0';
    vsnprintf(err->message, sizeof(err->message), fmt ? fmt : "", ap);
    return rc;
}

int cmk_err_set(struct cmk_err *err, int rc, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cmk_err_vset(err, rc, status, code, fmt, ap);
    va_end(ap);
    return rc;
}

void cmk_err_inner(struct cmk_err *err, const char *inner)
{
    if (err != NULL)
        snprintf(err->inner, sizeof(err->inner), "%s", inner ? inner : "");
}

void cmk_err_clear(struct cmk_err *err)
{
    if (err != NULL)
        memset(err, 0, sizeof(*err));
}
