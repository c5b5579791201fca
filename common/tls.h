/* tls.h: the emulator's own certificate authority and its TLS contexts.
 *
 * On first start cmk_tls_open creates, under DIR/tls/: ca.pem + ca.key (the CA, RSA-2048,
 * self-signed) and one leaf certificate per host family, signed by the CA, with the cloud's
 * names and the local suffix's names as subjectAltNames (management, login, *.vault,
 * *.managedhsm, *.postgres..., plus localhost and 127.0.0.1 on the management leaf).
 * Certificates are public PEM; the private keys (ca.key, FAMILY.key) are sealed under the root
 * key (rootkey.h, DIR/keys/root.key), mode 0600, never in clear; one that does not open stops
 * the open with a message naming it. A restart reuses them (leaves are re-issued only if the
 * suffix changed or they expire within 30 days).
 *
 * The server context picks the leaf by SNI (no SNI: the management leaf). TLS 1.2 and 1.3.
 */
#ifndef CMK_TLS_H
#define CMK_TLS_H

#include <openssl/ssl.h>

#include "err.h"
#include "hosts.h"

struct cmk_tls;

/* The sealing label of the private keys under DIR/tls/ (rootkey.h; aad: the file's name). */
#define CMK_TLS_KEY_LABEL "tls private key"

/* dir: the state directory (tls/ is created under it; the root key is loaded, or created, from
 * dir/keys/). now: clock time for validity. */
int cmk_tls_open(struct cmk_tls **out, const char *dir, const struct cmk_hosts *hosts,
                 int64_t now_ms, struct cmk_err *err) __attribute__((warn_unused_result));
void cmk_tls_free(struct cmk_tls *tls);
/* Server context with SNI selection; owned by tls. */
SSL_CTX *cmk_tls_server_ctx(struct cmk_tls *tls);
/* Client context that trusts only the emulator CA and verifies host names; owned by tls. */
SSL_CTX *cmk_tls_client_ctx(struct cmk_tls *tls);
const char *cmk_tls_ca_path(const struct cmk_tls *tls);

#endif
