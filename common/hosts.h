/* hosts.h: which service a host name belongs to.
 *
 * Services answer under the cloud's own names and under a configurable local suffix
 * (DESIGN.md: Hosts). Both map to the same host kind and label:
 *
 *   management.azure.com            management.<suffix>, localhost, 127.0.0.1   CMK_HOST_MGMT
 *   login.microsoftonline.com       login.<suffix>                              CMK_HOST_LOGIN
 *   NAME.vault.azure.net            NAME.vault.<suffix>                         CMK_HOST_VAULT
 *   NAME.managedhsm.azure.net       NAME.managedhsm.<suffix>                    CMK_HOST_HSM
 *   NAME.postgres.database.azure.com NAME.postgres.<suffix>                     CMK_HOST_PG
 *   graph.microsoft.com             graph.<suffix>                              CMK_HOST_GRAPH
 *
 * The label is NAME (lowercased) for the wildcard kinds, empty otherwise.
 */
#ifndef CMK_HOSTS_H
#define CMK_HOSTS_H

#include <stddef.h>

enum cmk_host_kind {
    CMK_HOST_UNKNOWN = 0,
    CMK_HOST_MGMT,
    CMK_HOST_LOGIN,
    CMK_HOST_VAULT,
    CMK_HOST_HSM,
    CMK_HOST_PG,
    CMK_HOST_GRAPH, /* graph.microsoft.com: the directory lookups az makes (identity) */
    CMK_HOST__COUNT
};

struct cmk_hosts {
    char suffix[128]; /* local suffix, default "localhost" */
};

void cmk_hosts_init(struct cmk_hosts *h, const char *suffix);
/* host may carry ":port" and any case; label receives NAME for wildcard kinds. */
enum cmk_host_kind cmk_hosts_classify(const struct cmk_hosts *h, const char *host, char *label,
                                      size_t labelsz);
/* The cloud (cloud != 0) or local name of a host: ("myvault", CMK_HOST_VAULT) ->
 * "myvault.vault.azure.net". */
void cmk_hosts_name(const struct cmk_hosts *h, enum cmk_host_kind kind, const char *label,
                    int cloud, char *out, size_t n);
const char *cmk_host_kind_name(enum cmk_host_kind kind); /* "mgmt", "login", "vault", ... */
/* The resource the Key Vault challenge names: "https://vault.azure.net" style, per kind. */
const char *cmk_hosts_cloud_suffix(enum cmk_host_kind kind);

#endif
