/* identity.c: the emulated directory: tenants, service principals and the principal records
 * of user-assigned managed identities, kept in the runtime's state database (module
 * "identity"); the well-known defaults; the service's start and stop (see identity.h).
 *
 * Principals of both kinds share one table so a token's oid is checked in one place: the
 * principal-check hook installed on cmk_auth answers from it, and a deleted row makes every
 * token of that principal fail verification at once. Secrets are never stored: only a salted
 * PBKDF2-HMAC-SHA256 hash (with its iteration count, so it can be raised later).
 *
 * Ids (tenant, object and client ids) come from the seeded generator, one stream per creation
 * chosen by a counter kept in the store, so a run with one seed names things the same way and
 * a restart never hands out an id twice.
 */
#include "identity_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/auth.h"
#include "common/b64.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/store.h"

#define PBKDF2_ITER 10000
#define SALT_LEN    16
#define HASH_LEN    32

static const struct cmk_migration migrations[] = {
    {1, "CREATE TABLE identity_meta("
        "  k TEXT PRIMARY KEY,"
        "  v INTEGER NOT NULL);"
        "CREATE TABLE identity_tenants("
        "  id TEXT PRIMARY KEY COLLATE NOCASE,"
        "  domain TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        "  created INTEGER NOT NULL);"
        "CREATE TABLE identity_principals("
        "  oid TEXT PRIMARY KEY COLLATE NOCASE,"
        "  client_id TEXT NOT NULL UNIQUE COLLATE NOCASE,"
        "  tenant TEXT NOT NULL COLLATE NOCASE REFERENCES identity_tenants(id),"
        "  kind TEXT NOT NULL CHECK (kind IN ('sp', 'mi')),"
        "  display_name TEXT NOT NULL,"
        "  secret_salt BLOB,"
        "  secret_hash BLOB,"
        "  secret_iter INTEGER,"
        "  resource_id TEXT UNIQUE COLLATE NOCASE,"
        "  subscription TEXT COLLATE NOCASE,"
        "  resource_group TEXT COLLATE NOCASE,"
        "  name TEXT COLLATE NOCASE,"
        "  location TEXT,"
        "  tags TEXT,"
        "  isolation_scope TEXT,"
        "  created INTEGER NOT NULL);"
        "CREATE INDEX identity_principals_by_rg"
        "  ON identity_principals(subscription, resource_group);"},
};

void cp_identity_defaults(struct cp_identity_defaults *out)
{
    out->tenant_id = CP_IDENTITY_DEFAULT_TENANT;
    out->tenant_domain = CP_IDENTITY_DEFAULT_DOMAIN;
    out->subscription_id = CP_IDENTITY_DEFAULT_SUBSCRIPTION;
    out->admin_client_id = CP_IDENTITY_ADMIN_CLIENT_ID;
    out->admin_object_id = CP_IDENTITY_ADMIN_OBJECT_ID;
    out->admin_client_secret = CP_IDENTITY_ADMIN_SECRET;
}

int cp__identity_db_err(struct cmk_err *err, sqlite3 *db, const char *what)
{
    return cmk_err_set(err, CMK_EIO, 500, "InternalError", "identity store: %s: %s", what,
                       sqlite3_errmsg(db));
}

void cp__identity_copy_col(sqlite3_stmt *s, int col, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, col);
    snprintf(dst, n, "%s", v ? (const char *)v : "");
}

int cp__identity_tx_begin(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        return 0;
    return cmk_store_begin(db) == 0 ? 1 : CMK_EIO;
}

int cp__identity_tx_end(sqlite3 *db, int owned, int rc)
{
    if (owned != 1)
        return rc;
    if (rc == 0 && cmk_store_commit(db) == 0)
        return 0;
    cmk_store_rollback(db);
    return rc != 0 ? rc : CMK_EIO;
}

int cp__identity_rng(struct cp_identity *ids, struct cmk_rng *out, struct cmk_err *err)
{
    sqlite3 *db = ids->rt->db;
    sqlite3_stmt *s = cmk_store_stmt(db, "INSERT INTO identity_meta(k, v) VALUES ('seq', 1) "
                                         "ON CONFLICT(k) DO UPDATE SET v = v + 1 RETURNING v");
    if (s == NULL || sqlite3_step(s) != SQLITE_ROW) {
        if (s != NULL)
            sqlite3_reset(s);
        return cp__identity_db_err(err, db, "next id stream");
    }
    long long seq = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    struct cmk_rng base;
    char name[32];
    cmk_runtime_rng(ids->rt, "identity", &base);
    snprintf(name, sizeof(name), "%lld", seq);
    cmk_rng_fork(&base, out, name);
    return 0;
}

/* ---- secrets ---- */

static int hash_secret(const char *secret, const unsigned char *salt, int iter,
                       unsigned char out[HASH_LEN])
{
    return PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, SALT_LEN, iter, EVP_sha256(),
                             HASH_LEN, out) == 1
               ? 0
               : -1;
}

int cp__identity_secret_ok(struct cmk_runtime *rt, const char *client_id, const char *secret)
{
    sqlite3_stmt *s = cmk_store_stmt(rt->db, "SELECT secret_salt, secret_hash, secret_iter "
                                             "FROM identity_principals "
                                             "WHERE client_id = ?1 AND kind = 'sp'");
    if (s == NULL)
        return 0;
    sqlite3_bind_text(s, 1, client_id, -1, SQLITE_TRANSIENT);
    int ok = 0;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == SALT_LEN &&
        sqlite3_column_bytes(s, 1) == HASH_LEN) {
        unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
        memcpy(salt, sqlite3_column_blob(s, 0), SALT_LEN);
        memcpy(want, sqlite3_column_blob(s, 1), HASH_LEN);
        int iter = sqlite3_column_int(s, 2);
        sqlite3_reset(s);
        ok = iter > 0 && hash_secret(secret, salt, iter, got) == 0 &&
             CRYPTO_memcmp(got, want, HASH_LEN) == 0;
        OPENSSL_cleanse(got, sizeof(got));
    } else {
        sqlite3_reset(s);
    }
    return ok;
}

/* ---- tenants ---- */

static int tenant_insert(sqlite3 *db, const char *id, const char *domain, cmk_time_t now)
{
    sqlite3_stmt *s = cmk_store_stmt(db, "INSERT INTO identity_tenants(id, domain, created) "
                                         "VALUES (?1, ?2, ?3)");
    if (s == NULL)
        return SQLITE_ERROR;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, domain, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int is_guid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

void cp__identity_lower(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

int cp_identity_tenant_create(struct cp_identity *ids, const char *id, const char *domain,
                              char *out_id, struct cmk_err *err)
{
    sqlite3 *db = ids->rt->db;
    char tid[37], dom[256];
    if (id != NULL && !is_guid(id))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidTenantId",
                           "The tenant id '%s' is not a GUID.", id);
    if (domain != NULL && (strlen(domain) < 3 || strlen(domain) >= sizeof(dom) ||
                           strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789.-") != strlen(domain)))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidDomainName",
                           "The domain name '%s' is not valid.", domain);
    int owned = cp__identity_tx_begin(db);
    if (owned < 0)
        return cp__identity_db_err(err, db, "begin");
    int rc = 0;
    if (id == NULL) {
        struct cmk_rng r;
        rc = cp__identity_rng(ids, &r, err);
        if (rc == 0)
            cmk_rng_guid(&r, tid);
    } else {
        cp__identity_lower(tid, sizeof(tid), id);
    }
    if (rc == 0) {
        if (domain != NULL)
            cp__identity_lower(dom, sizeof(dom), domain);
        else
            snprintf(dom, sizeof(dom), "%.8s.onmicrosoft.com", tid);
        int src = tenant_insert(db, tid, dom, cmk_clock_now(&ids->rt->clock));
        if ((src & 0xff) == SQLITE_CONSTRAINT)
            rc = cmk_err_set(err, CMK_EEXIST, 409, "TenantExists",
                             "A tenant with id %s or domain %s exists already.", tid, dom);
        else if (src != SQLITE_OK)
            rc = cp__identity_db_err(err, db, "insert tenant");
    }
    if (rc == 0 && ids->rt->arm != NULL && !cmk_arm_tenant_exists(ids->rt->arm, tid))
        rc = cmk_arm_tenant_add(ids->rt->arm, tid, dom, dom, err);
    rc = cp__identity_tx_end(db, owned, rc);
    if (rc == 0 && out_id != NULL)
        memcpy(out_id, tid, sizeof(tid));
    return rc;
}

static int tenant_lookup(struct cmk_runtime *rt, const char *name, char *out_id)
{
    sqlite3_stmt *s = cmk_store_stmt(rt->db, "SELECT id FROM identity_tenants "
                                             "WHERE id = ?1 OR domain = ?1");
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found && out_id != NULL)
        cp__identity_copy_col(s, 0, out_id, 37);
    sqlite3_reset(s);
    return found ? 0 : -1;
}

/* A tenant the ARM core knows (cmk_arm_tenant_add by a scenario) joins the directory the
 * first time it is named, so both agree on which tenants exist. */
int cp__identity_tenant_ensure(struct cmk_runtime *rt, const char *tid)
{
    if (tenant_lookup(rt, tid, NULL) == 0)
        return 0;
    if (!is_guid(tid))
        return -1;
    char id[37], dom[64];
    cp__identity_lower(id, sizeof(id), tid);
    snprintf(dom, sizeof(dom), "%s.onmicrosoft.com", id);
    return tenant_insert(rt->db, id, dom, cmk_clock_now(&rt->clock)) == SQLITE_OK ? 0 : -1;
}

int cp_identity_tenant_find(struct cmk_runtime *rt, const char *name, char *out_id,
                            struct cmk_err *err)
{
    if (name != NULL && tenant_lookup(rt, name, out_id) == 0)
        return 0;
    if (name != NULL && rt->arm != NULL && is_guid(name) && cmk_arm_tenant_exists(rt->arm, name) &&
        cp__identity_tenant_ensure(rt, name) == 0 && tenant_lookup(rt, name, out_id) == 0)
        return 0;
    return cmk_err_set(err, CMK_ENOTFOUND, 400, "TenantNotFound", "Tenant '%s' not found.",
                       name ? name : "");
}

/* ---- principals ---- */

int cp__identity_principal_find(struct cmk_runtime *rt, const char *ref, struct cp_principal *out)
{
    sqlite3_stmt *s = cmk_store_stmt(
        rt->db, "SELECT tenant, oid, client_id, kind, display_name, resource_id "
                "FROM identity_principals WHERE oid = ?1 OR client_id = ?1 OR resource_id = ?1");
    if (s == NULL || ref == NULL)
        return CMK_ENOTFOUND;
    sqlite3_bind_text(s, 1, ref, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found && out != NULL) {
        memset(out, 0, sizeof(*out));
        cp__identity_copy_col(s, 0, out->tenant, sizeof(out->tenant));
        cp__identity_copy_col(s, 1, out->object_id, sizeof(out->object_id));
        cp__identity_copy_col(s, 2, out->client_id, sizeof(out->client_id));
        cp__identity_copy_col(s, 3, out->kind, sizeof(out->kind));
        cp__identity_copy_col(s, 4, out->display_name, sizeof(out->display_name));
        cp__identity_copy_col(s, 5, out->resource_id, sizeof(out->resource_id));
    }
    sqlite3_reset(s);
    return found ? 0 : CMK_ENOTFOUND;
}

static int sp_insert(sqlite3 *db, const struct cp_principal *p, const char *secret, cmk_time_t now)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    if (RAND_bytes(salt, sizeof(salt)) != 1 || hash_secret(secret, salt, PBKDF2_ITER, hash) != 0)
        return SQLITE_ERROR;
    sqlite3_stmt *s = cmk_store_stmt(
        db, "INSERT INTO identity_principals(oid, client_id, tenant, kind, display_name, "
            "secret_salt, secret_hash, secret_iter, created) "
            "VALUES (?1, ?2, ?3, 'sp', ?4, ?5, ?6, ?7, ?8)");
    if (s == NULL)
        return SQLITE_ERROR;
    sqlite3_bind_text(s, 1, p->object_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, p->client_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, p->tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, p->display_name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 5, salt, sizeof(salt), SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 6, hash, sizeof(hash), SQLITE_TRANSIENT);
    sqlite3_bind_int(s, 7, PBKDF2_ITER);
    sqlite3_bind_int64(s, 8, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    OPENSSL_cleanse(hash, sizeof(hash));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Entra-looking secret: 40 characters with the "8Q~" marker real secrets carry at 3..5. */
static char *generate_secret(void)
{
    unsigned char raw[30];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return NULL;
    char *b = cmk_b64_encode(raw, sizeof(raw), 1);
    OPENSSL_cleanse(raw, sizeof(raw));
    char *s = cmk_xmalloc(44);
    snprintf(s, 44, "%.3s8Q~%.34s", b, b + 3);
    OPENSSL_cleanse(b, strlen(b));
    free(b);
    return s;
}

int cp_identity_sp_create(struct cp_identity *ids, const char *tenant, const char *display_name,
                          const char *secret, struct cp_principal *out, char **secret_out,
                          struct cmk_err *err)
{
    struct cmk_runtime *rt = ids->rt;
    struct cp_principal p;
    memset(&p, 0, sizeof(p));
    if (secret_out != NULL)
        *secret_out = NULL;
    if (secret != NULL && (strlen(secret) < 8 || strlen(secret) > 256))
        return cmk_err_set(err, CMK_EINVAL, 400, "InvalidSecret",
                           "A client secret must have 8 to 256 characters.");
    if (secret == NULL && secret_out == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "nowhere to return the secret");
    int rc =
        cp_identity_tenant_find(rt, tenant ? tenant : CP_IDENTITY_DEFAULT_TENANT, p.tenant, err);
    if (rc != 0)
        return rc;
    snprintf(p.kind, sizeof(p.kind), "sp");
    snprintf(p.display_name, sizeof(p.display_name), "%s",
             display_name && *display_name ? display_name : "cmksim-app");
    char *generated = secret ? NULL : generate_secret();
    if (secret == NULL && generated == NULL)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "no randomness for a secret");
    int owned = cp__identity_tx_begin(rt->db);
    if (owned < 0) {
        free(generated);
        return cp__identity_db_err(err, rt->db, "begin");
    }
    struct cmk_rng r;
    rc = cp__identity_rng(ids, &r, err);
    if (rc == 0) {
        cmk_rng_guid(&r, p.object_id);
        cmk_rng_guid(&r, p.client_id);
        if (sp_insert(rt->db, &p, secret ? secret : generated, cmk_clock_now(&rt->clock)) !=
            SQLITE_OK)
            rc = cp__identity_db_err(err, rt->db, "insert service principal");
    }
    rc = cp__identity_tx_end(rt->db, owned, rc);
    if (rc != 0) {
        if (generated != NULL)
            OPENSSL_cleanse(generated, strlen(generated));
        free(generated);
        return rc;
    }
    if (out != NULL)
        *out = p;
    if (secret_out != NULL)
        *secret_out = generated;
    return 0;
}

int cp__identity_principal_delete(sqlite3 *db, const char *kind, const char *where, const char *a,
                                  const char *b, const char *c)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "DELETE FROM identity_principals WHERE kind = '%s' AND %s", kind,
             where);
    sqlite3_stmt *s = cmk_store_stmt(db, sql);
    if (s == NULL)
        return -1;
    sqlite3_bind_text(s, 1, a, -1, SQLITE_TRANSIENT);
    if (b != NULL)
        sqlite3_bind_text(s, 2, b, -1, SQLITE_TRANSIENT);
    if (c != NULL)
        sqlite3_bind_text(s, 3, c, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

int cp_identity_sp_delete(struct cp_identity *ids, const char *client_id, struct cmk_err *err)
{
    int n =
        cp__identity_principal_delete(ids->rt->db, "sp", "client_id = ?1", client_id, NULL, NULL);
    if (n < 0)
        return cp__identity_db_err(err, ids->rt->db, "delete service principal");
    if (n == 0)
        return cmk_err_set(err, CMK_ENOTFOUND, 404, "ServicePrincipalNotFound",
                           "Service principal '%s' does not exist.", client_id);
    return 0;
}

/* ---- the principal check and the service ---- */

static int principal_exists(void *data, const char *tid, const char *oid)
{
    struct cp_identity *ids = data;
    sqlite3_stmt *s = cmk_store_stmt(ids->rt->db, "SELECT 1 FROM identity_principals "
                                                  "WHERE oid = ?1 AND tenant = ?2");
    if (s == NULL)
        return 0;
    sqlite3_bind_text(s, 1, oid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, tid, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_reset(s);
    return found;
}

static int provision_defaults(struct cp_identity *ids, struct cmk_err *err)
{
    sqlite3 *db = ids->rt->db;
    int owned = cp__identity_tx_begin(db);
    if (owned < 0)
        return cp__identity_db_err(err, db, "begin");
    int rc = 0;
    cmk_time_t now = cmk_clock_now(&ids->rt->clock);
    if (tenant_lookup(ids->rt, CP_IDENTITY_DEFAULT_TENANT, NULL) != 0 &&
        tenant_insert(db, CP_IDENTITY_DEFAULT_TENANT, CP_IDENTITY_DEFAULT_DOMAIN, now) != SQLITE_OK)
        rc = cp__identity_db_err(err, db, "default tenant");
    if (rc == 0 && cp__identity_principal_find(ids->rt, CP_IDENTITY_ADMIN_CLIENT_ID, NULL) != 0) {
        struct cp_principal p;
        memset(&p, 0, sizeof(p));
        snprintf(p.tenant, sizeof(p.tenant), "%s", CP_IDENTITY_DEFAULT_TENANT);
        snprintf(p.object_id, sizeof(p.object_id), "%s", CP_IDENTITY_ADMIN_OBJECT_ID);
        snprintf(p.client_id, sizeof(p.client_id), "%s", CP_IDENTITY_ADMIN_CLIENT_ID);
        snprintf(p.display_name, sizeof(p.display_name), "cmksim-admin");
        if (sp_insert(db, &p, CP_IDENTITY_ADMIN_SECRET, now) != SQLITE_OK)
            rc = cp__identity_db_err(err, db, "default admin principal");
    }
    return cp__identity_tx_end(db, owned, rc);
}

/* DIR/keys/identity-header: 32 random bytes in hex, created once (0600) and reused. */
static int load_msi_header(struct cp_identity *ids, struct cmk_err *err)
{
    char dir[PATH_MAX + 8], path[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/keys", ids->rt->data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot create %s: %s", dir,
                           strerror(errno));
    snprintf(path, sizeof(path), "%s/identity-header", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, ids->msi_header, 64);
        close(fd);
        ids->msi_header[n > 0 ? n : 0] = '\0';
        if (n == 64 && strspn(ids->msi_header, "0123456789abcdef") == 64)
            return 0;
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "%s is damaged; remove it", path);
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return cmk_err_set(err, CMK_ECRYPTO, 500, "InternalError", "no randomness");
    for (int i = 0; i < 32; i++)
        snprintf(ids->msi_header + 2 * i, 3, "%02x", raw[i]);
    OPENSSL_cleanse(raw, sizeof(raw));
    char tmp[PATH_MAX + 40];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, ids->msi_header, 64) == 64 && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        return cmk_err_set(err, CMK_EIO, 500, "InternalError", "cannot write %s", path);
    }
    return 0;
}

int cp_identity_init(struct cp_identity **out, struct cmk_runtime *rt, struct cmk_err *err)
{
    *out = NULL;
    if (rt == NULL || rt->db == NULL || rt->auth == NULL)
        return cmk_err_set(err, CMK_EINVAL, 500, "InternalError", "identity: runtime not open");
    int rc = cmk_store_migrate(rt->db, "identity", migrations,
                               sizeof(migrations) / sizeof(migrations[0]), err);
    if (rc != 0)
        return rc;
    struct cp_identity *ids = cmk_xcalloc(1, sizeof(*ids));
    ids->rt = rt;
    cmk_runtime_rng(rt, "identity.trace", &ids->trace_rng);
    if ((rc = provision_defaults(ids, err)) != 0 || (rc = load_msi_header(ids, err)) != 0 ||
        (rc = cp__identity_arm_register(ids, err)) != 0) {
        free(ids);
        return rc;
    }
    cp__identity_login_routes(ids);
    cp__identity_msi_routes(ids);
    cp__identity_graph_routes(ids);
    cmk_auth_set_principal_check(rt->auth, principal_exists, ids);
    *out = ids;
    return 0;
}

void cp_identity_free(struct cp_identity *ids)
{
    if (ids == NULL)
        return;
    cmk_auth_set_principal_check(ids->rt->auth, NULL, NULL);
    cp__identity_arm_unregister(ids);
    OPENSSL_cleanse(ids->msi_header, sizeof(ids->msi_header));
    free(ids);
}

const char *cp_identity_msi_header(const struct cp_identity *ids)
{
    return ids->msi_header;
}

void cp_identity_describe(struct cp_identity *ids, json_t *out)
{
    json_object_set_new(
        out, "defaults",
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "tenantId", CP_IDENTITY_DEFAULT_TENANT,
                  "tenantDomain", CP_IDENTITY_DEFAULT_DOMAIN, "subscriptionId",
                  CP_IDENTITY_DEFAULT_SUBSCRIPTION, "clientId", CP_IDENTITY_ADMIN_CLIENT_ID,
                  "clientSecret", CP_IDENTITY_ADMIN_SECRET));
    json_object_set_new(out, "managedIdentity",
                        json_pack("{s:s, s:s}", "endpoint",
                                  "https://management.azure.com/msi/token", "header",
                                  ids->msi_header));
}
