/* key_int.h: what key.c and key_import.c share (`cmksim key`). */
#ifndef CMK_CLI_KEY_INT_H
#define CMK_CLI_KEY_INT_H

#include <jansson.h>

#include "client.h"

/* Read a key file (.json JWK, .pfx/.p12, .pem/.key, .byok) into the JWK that the import route
 * takes (new reference; holds private material: free with cli_key_wipe). hsm: ask for an
 * HSM-protected key (kty RSA-HSM / EC-HSM). NULL after printing why. */
json_t *cli_key_read_file(struct cli_ctx *ctx, const char *path, const char *password, int hsm);
/* Overwrite every string of j (private key members) and release it. NULL is fine. */
void cli_key_wipe(json_t *j);

#endif
