/* rootkey.h: the emulator's root key, and sealing secrets under it.
 *
 * Every secret cmksim keeps at rest (vault private keys, the data plane's platform key, backup
 * blobs) is encrypted under keys derived from one root key: 32 random bytes in
 * DIR/keys/root.key (directory mode 0700, file mode 0600), created on first start from
 * OpenSSL's CSPRNG and reused after. Losing the file makes every sealed secret unreadable,
 * which is what "another emulator" means for backup blobs.
 *
 * Sealing is AES-256-GCM under HKDF-SHA256(root, label): a label names the purpose ("vaultsim
 * key material", "vaultsim backup"...), so the same root key never encrypts two kinds of data
 * under one key. The sealed form is version(1) || nonce(12) || ciphertext || tag(16); aad binds
 * the context (e.g. the key's identity), so a sealed blob moved to another row does not open.
 *
 * The emulator's own private keys (the token-signing key, the TLS CA and leaf keys) are files
 * of their own: cmk_rootkey_write_pkey seals the key's PKCS#8 DER under a label with the file's
 * base name as aad, and cmk_rootkey_read_pkey opens it. DIR/keys/root.key is therefore the only
 * secret cmksim ever keeps on disk in clear.
 *
 * Ownership: struct cmk_rootkey is embedded by its owner; cmk_rootkey_wipe cleanses it.
 * Opened plaintext is handed to the caller, who must OPENSSL_cleanse it before freeing.
 * Thread-safety: the functions only read the key, so several threads may seal/open at once.
 */
#ifndef CMK_ROOTKEY_H
#define CMK_ROOTKEY_H

#include <openssl/types.h> /* EVP_PKEY */
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define CMK_ROOTKEY_LEN   32
#define CMK_SEAL_OVERHEAD (1 + 12 + 16)

struct cmk_rootkey {
    unsigned char key[CMK_ROOTKEY_LEN];
    char id[17]; /* 16 hex of SHA-256(key): names this emulator without revealing the key */
};

/* Load DIR/keys/root.key, creating it (and DIR/keys) on first use. A file of the wrong size
 * or with group/other permissions is refused with a clear message. */
int cmk_rootkey_load(struct cmk_rootkey *rk, const char *data_dir, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Cleanse the key from memory. Accepts NULL. */
void cmk_rootkey_wipe(struct cmk_rootkey *rk);

/* HKDF-SHA256(root, info = label) into out (n bytes, n <= 64). */
int cmk_rootkey_derive(const struct cmk_rootkey *rk, const char *label, unsigned char *out,
                       size_t n) __attribute__((warn_unused_result));

/* Append the sealed form of pt to out. */
int cmk_rootkey_seal(const struct cmk_rootkey *rk, const char *label, const void *aad,
                     size_t aadlen, const void *pt, size_t n, struct cmk_buf *out)
    __attribute__((warn_unused_result));
/* Open a sealed blob: on success *pt is malloc'd plaintext of *n bytes (caller cleanses and
 * frees). CMK_ECRYPTO if the blob was altered, sealed under another root key, label or aad. */
int cmk_rootkey_open(const struct cmk_rootkey *rk, const char *label, const void *aad,
                     size_t aadlen, const void *sealed, size_t len, unsigned char **pt, size_t *n)
    __attribute__((warn_unused_result));

/* Write pkey to path sealed: PKCS#8 DER, cmk_rootkey_seal(label, aad = the base name of path),
 * through a temporary file in the same directory (O_EXCL, mode 0600), fsync, rename over path,
 * fsync of the directory. The DER is cleansed. A sealed key renamed to another file name does
 * not open. */
int cmk_rootkey_write_pkey(const struct cmk_rootkey *rk, const char *label, const char *path,
                           const EVP_PKEY *pkey, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Read a key written by cmk_rootkey_write_pkey into *out (caller frees with EVP_PKEY_free).
 * CMK_ENOTFOUND (err untouched) when path does not exist; CMK_ECRYPTO, with a message naming
 * the file, when it does not open (altered, truncated, renamed, or sealed under another root
 * key or label); CMK_EPARSE when it is a clear PEM file (written by an older cmksim; never
 * parsed: the caller decides, e.g. remove it and make a new key); CMK_EIO when it cannot be
 * read. A file readable by group or others is set back to 0600. */
int cmk_rootkey_read_pkey(const struct cmk_rootkey *rk, const char *label, const char *path,
                          EVP_PKEY **out, struct cmk_err *err) __attribute__((warn_unused_result));

#endif
