/* server.h: the emulated servers' data plane: the control plane's hooks (struct
 * cp_dataplane_ops) over real encrypted storage, the PostgreSQL endpoint that serves it, and the
 * copies (backups, point-in-time restore, read replicas, geo-redundant backups).
 *
 * Each server is a directory DATA/servers/NAME holding its database files (one per database,
 * pages sealed by the encrypting VFS under a DEK of their own), its envelope (the DEKs wrapped
 * by the server's key: its customer-managed key through the vault or HSM, or the emulator's
 * platform key for SystemManaged servers), server.json (what the data plane knows of the server:
 * key, identity, administrator, port, state) and backups/ (full copies and the archived
 * write-ahead log, still sealed under the DEKs). A geo-redundant server also has a copy of its
 * backups in DATA/geo/PAIRED-REGION/NAME with the same DEKs wrapped by its geo-backup key.
 *
 * Every wrap and unwrap is an in-process wrapKey/unwrapKey request through the router with the
 * server identity's token (cp_server_vault_token) from the trusted-service origin: a revoked
 * permission, a deleted key, vault or identity, or a firewall change breaks it for the real
 * reason and shows in the vault's audit log.
 *
 * The endpoint: one PostgreSQL listener per server (its own port, kept across restarts) and one
 * shared port routed by TLS SNI (NAME.postgres.database.azure.com). A server that is not open
 * refuses logins with FATAL 57P03 and the cause; losing the key ends its sessions with 57P01.
 *
 * Threading: everything runs on the runtime's loop thread. Ownership: dp_servers_open returns an
 * object freed by dp_servers_free after the loop has stopped (dp_servers_stop first, while it
 * runs). Time comes from the runtime's clock.
 */
#ifndef DP_SERVER_H
#define DP_SERVER_H

#include "common/runtime.h"
#include "controlplane/server.h"
#include "dataplane/pgwire.h"

/* How often the copies run (clock time). */
#define DP_ARCHIVE_PERIOD    (5 * CMK_MINUTE) /* WAL archived, backups pruned, geo copy synced */
#define DP_FULL_PERIOD       CMK_DAY          /* a full backup of every database file */
#define DP_REPLICA_PERIOD    (2 * CMK_SECOND) /* a read replica catches up */
#define DP_CHECKPOINT_FRAMES 1000             /* WAL frames before archive + checkpoint */

struct dp_servers;

/* Open the data plane of rt over DATA/servers (servers found there are loaded, locked until the
 * control plane unlocks them): the endpoint and, when listen is non-zero, its shared port on
 * addr:port (port 0: any) and each known server's own port. cp: the control plane's service
 * (tokens for the vault requests). */
int dp_servers_open(struct dp_servers **out, struct cmk_runtime *rt, struct cp_servers *cp,
                    int listen, const char *addr, int port, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* The hooks to hand to cp_servers_set_dataplane. */
void dp_servers_ops(struct dp_servers *d, struct cp_dataplane_ops *ops);
/* Stop accepting work: archive the logs, close the listeners and end the sessions (57P01). */
void dp_servers_stop(struct dp_servers *d);
/* Close every database and wipe every DEK, then free. NULL is fine. */
void dp_servers_free(struct dp_servers *d);

/* The shared (SNI-routed) port, 0 if none; a server's own port, 0 if none. */
int dp_servers_shared_port(const struct dp_servers *d);
int dp_servers_port(const struct dp_servers *d, const char *name);
/* The endpoint (the in-process pipe door for the scenario runner). */
struct dp_pgwire *dp_servers_endpoint(struct dp_servers *d);

/* Take a backup of server name now (WAL archive; full: a full copy of every file) and sync its
 * geo-redundant copy, as the clock would. */
int dp_server_backup_now(struct dp_servers *d, const char *name, int full, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* Copy a read replica's primary into it now, as the clock would. */
int dp_server_replicate_now(struct dp_servers *d, const char *name, struct cmk_err *err)
    __attribute__((warn_unused_result));
/* A replica's lag: clock time since the oldest change of its primary it has not copied yet
 * (0 when caught up); -1 if name is not a replica. */
cmk_time_t dp_server_replica_lag(struct dp_servers *d, const char *name);

#endif
