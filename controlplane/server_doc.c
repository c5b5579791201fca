/* server_doc.c: a server's stored document and what is derived from it: loading and saving
 * through the ARM core's resource store, the private part, the data plane's view, and the
 * administrator's SCRAM-SHA-256 verifier (the password itself is never stored or echoed).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/b64.h"
#include "common/buf.h"
#include "server_int.h"

const char *cp__str(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

json_t *cp__obj(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

void cp__srv_from(struct cp_srv *srv, const struct cmk_arm_resource *r)
{
    memset(srv, 0, sizeof(*srv));
    srv->r = *r;
    srv->r.doc = json_is_object(r->doc) ? json_incref(r->doc) : json_object();
    srv->props = cp__obj(srv->r.doc, "properties");
    srv->priv = cp__obj(srv->r.doc, SRV_PRIV);
    if (cp_state_parse(cp__str(srv->props, "state"), &srv->state) != 0)
        srv->state = CP_STATE_READY;
}

int cp__srv_load(struct cp_servers *s, const char *id, struct cp_srv *out, struct cmk_err *err)
{
    struct cmk_arm_resource r;
    memset(out, 0, sizeof(*out));
    int rc = cmk_arm_resource_get(s->arm, id, &r, err);
    if (rc != 0)
        return rc;
    if (strcasecmp(r.type, CP_SERVER_TYPE) != 0) {
        cmk_arm_resource_close(&r);
        return cmk_arm_err_not_found(err, id);
    }
    cp__srv_from(out, &r);
    cmk_arm_resource_close(&r);
    return 0;
}

int cp__srv_save(struct cp_servers *s, struct cp_srv *srv, struct cmk_err *err)
{
    /* Changes the service makes itself keep the last modifier a client set. */
    return cmk_arm_resource_put(s->arm, srv->r.id, srv->r.doc, srv->r.updated_by, err);
}

void cp__srv_close(struct cp_srv *srv)
{
    if (srv == NULL)
        return;
    cmk_arm_resource_close(&srv->r);
    srv->props = srv->priv = NULL;
}

int cp__srv_is_cmk(const struct cp_srv *srv)
{
    json_t *de = json_object_get(srv->props, "dataEncryption");
    return strcmp(cp__str(de, "type"), "AzureKeyVault") == 0;
}

void cp__srv_dp(const struct cp_srv *srv, struct cp_dp_server *out)
{
    json_t *de = json_object_get(srv->props, "dataEncryption");
    memset(out, 0, sizeof(*out));
    out->id = srv->r.id;
    out->name = srv->r.name;
    out->location = srv->r.location;
    out->version = cp__str(srv->props, "version");
    out->encryption = cp__srv_is_cmk(srv) ? "AzureKeyVault" : "SystemManaged";
    out->key_uri = cp__str(de, "primaryKeyURI");
    out->key_kid = cp__str(srv->priv, "kid");
    out->identity_id = cp__str(de, "primaryUserAssignedIdentityId");
    out->geo_key_uri = cp__str(de, "geoBackupKeyURI");
    out->geo_identity_id = cp__str(de, "geoBackupUserAssignedIdentityId");
    out->admin_login = cp__str(srv->props, "administratorLogin");
    out->admin_verifier = cp__str(srv->priv, "adminVerifier");
    out->create_mode = cp__str(srv->priv, "createMode");
    out->source_id = cp__str(srv->props, "sourceServerResourceId");
    json_t *pit = json_object_get(srv->priv, "pointInTime");
    out->point_in_time = json_is_integer(pit) ? (cmk_time_t)json_integer_value(pit) : 0;
}

/* ---- SCRAM-SHA-256 (RFC 5802/7677), in PostgreSQL's stored form ---- */

#define SCRAM_ITER 4096

char *cp__scram_verifier(const char *password)
{
    unsigned char salt[16], salted[32], client_key[32], stored[32], server_key[32];
    unsigned int l = 0;
    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return NULL;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), SCRAM_ITER,
                          EVP_sha256(), sizeof(salted), salted) != 1)
        return NULL;
    HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Client Key", 10, client_key,
         &l);
    EVP_Digest(client_key, sizeof(client_key), stored, NULL, EVP_sha256(), NULL);
    HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Server Key", 10, server_key,
         &l);
    char *s64 = cmk_b64_encode(salt, sizeof(salt), 0);
    char *st64 = cmk_b64_encode(stored, sizeof(stored), 0);
    char *sk64 = cmk_b64_encode(server_key, sizeof(server_key), 0);
    struct cmk_buf b;
    cmk_buf_init(&b);
    cmk_buf_printf(&b, "SCRAM-SHA-256$%d:%s$%s:%s", SCRAM_ITER, s64, st64, sk64);
    free(s64);
    free(st64);
    free(sk64);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    OPENSSL_cleanse(server_key, sizeof(server_key));
    return cmk_buf_take(&b, NULL);
}
