/* fuzz_json.c: bytes as a JSON request body, through cmk_request_json (the one parser every
 * service uses) and cmk_response_error (the one place the error envelope is written).
 *
 * Checks: the parser either returns an object or fills err with 400 and a code; the error
 * envelope is always valid JSON with error.code and error.message strings, also when the
 * message quotes the client's own (arbitrary UTF-8, arbitrary length) strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/router.h"

static void check_envelope(const struct cmk_err *err)
{
    struct cmk_response res;
    cmk_response_init(&res);
    cmk_response_error(&res, err);
    json_t *body = cmk_response_json_body(&res);
    json_t *e = json_object_get(body, "error");
    if (res.status != err->status || !json_is_string(json_object_get(e, "code")) ||
        !json_is_string(json_object_get(e, "message")))
        abort();
    json_decref(body);
    cmk_response_close(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cmk_request req;
    struct cmk_origin origin = {.kind = CMK_ORIGIN_INPROC, .addr = "10.0.0.1"};
    cmk_request_init(&req, "POST", "https://fuzz.vault.azure.net/keys/k/v/wrapkey?api-version=7.5",
                     &origin);
    cmk_request_add_header(&req, "content-type", "application/json");
    cmk_request_set_body(&req, data, size);
    struct cmk_err err;
    cmk_err_clear(&err);
    json_t *j = cmk_request_json(&req, &err);
    if (j == NULL) {
        if (err.status != 400 || err.code[0] == '\0')
            abort();
        check_envelope(&err);
    } else {
        if (!json_is_object(j) || cmk_request_json(&req, &err) != j)
            abort(); /* parsed once, an object */
        /* Services quote what the client sent in their messages: the envelope must hold. */
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v)
        {
            cmk_err_set(&err, CMK_EINVAL, 400, "BadParameter", "Property '%s' is not valid: %s",
                        key, json_is_string(v) ? json_string_value(v) : "(not a string)");
            check_envelope(&err);
        }
    }
    cmk_request_close(&req);
    return 0;
}
