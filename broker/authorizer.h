/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authorizer.h — ACLs as Kafka models them, and the decision Kafka's
 * StandardAuthorizer makes from them (security.h lists the parts).
 *
 * An ACL: principal ("User:NAME", "User:*" for every user), host (an IP
 * address or "*"), resource (type, pattern type LITERAL or PREFIXED, name;
 * the literal name "*" is every resource of the type), operation and
 * permission (ALLOW or DENY). The codes are Kafka's wire codes
 * (AclOperation, ResourceType, PatternType, AclPermissionType).
 *
 * The decision (StandardAuthorizerData.authorize): a super user may do
 * anything; else every ACL on a resource pattern that matches (the literal
 * name, the literal "*", each PREFIXED pattern the name starts with) whose
 * principal is the caller's or User:*, whose host is the caller's or *,
 * and whose operation matches: a DENY of that operation (or ALL) wins; else
 * an ALLOW of it, of ALL, or of an operation that implies it (READ, WRITE,
 * DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS)
 * allows; else, if no ACL at all names a matching resource pattern,
 * allow.everyone.if.no.acl.found decides (default false); else denied.
 *
 * The set answers from memory: ACLs are indexed by (resource type, pattern
 * type, name) in a hash table, and a name's PREFIXED patterns are found by
 * looking up only the prefix lengths some PREFIXED ACL of that type has.
 * A check allocates nothing. Not thread-safe: the broker changes and reads
 * it on its loop thread only.
 *
 * Durable as DATA/security/acls, a text file (a header line, then one ACL
 * a line, fields tab-separated, escaped with %XX), written whole with
 * broker_write_atomic; a file that does not parse is refused with its name
 * and line (the broker then does not start: an unreadable ACL file must
 * never open everything).
 */
#ifndef ND_BROKER_AUTHORIZER_H
#define ND_BROKER_AUTHORIZER_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's ResourceType codes. */
enum {
  ACL_RES_UNKNOWN = 0,
  ACL_RES_ANY = 1,
  ACL_RES_TOPIC = 2,
  ACL_RES_GROUP = 3,
  ACL_RES_CLUSTER = 4,
  ACL_RES_TRANSACTIONAL_ID = 5,
  ACL_RES_DELEGATION_TOKEN = 6,
  ACL_RES_USER = 7,
};
/* Kafka's PatternType codes. */
enum {
  ACL_PAT_UNKNOWN = 0,
  ACL_PAT_ANY = 1,
  ACL_PAT_MATCH = 2,
  ACL_PAT_LITERAL = 3,
  ACL_PAT_PREFIXED = 4,
};
/* Kafka's AclOperation codes. */
enum {
  ACL_OP_UNKNOWN = 0,
  ACL_OP_ANY = 1,
  ACL_OP_ALL = 2,
  ACL_OP_READ = 3,
  ACL_OP_WRITE = 4,
  ACL_OP_CREATE = 5,
  ACL_OP_DELETE = 6,
  ACL_OP_ALTER = 7,
  ACL_OP_DESCRIBE = 8,
  ACL_OP_CLUSTER_ACTION = 9,
  ACL_OP_DESCRIBE_CONFIGS = 10,
  ACL_OP_ALTER_CONFIGS = 11,
  ACL_OP_IDEMPOTENT_WRITE = 12,
  ACL_OP_CREATE_TOKENS = 13,
  ACL_OP_DESCRIBE_TOKENS = 14,
  ACL_OP_MAX = 14,
};
/* Kafka's AclPermissionType codes. */
enum {
  ACL_PERM_UNKNOWN = 0,
  ACL_PERM_ANY = 1,
  ACL_PERM_DENY = 2,
  ACL_PERM_ALLOW = 3,
};

/* The only name of the CLUSTER resource. */
#define ACL_CLUSTER_NAME "kafka-cluster"
#define ACL_WILDCARD "*"
#define ACL_WILDCARD_PRINCIPAL "User:*"

/* One ACL (a binding, in Kafka's words). Strings are NUL-terminated and
 * owned by whoever made the struct. */
typedef struct acl_binding {
  int8_t res_type, pattern;
  const char *name;
  const char *principal, *host;
  int8_t op, perm;
} acl_binding;

/* A filter (DescribeAcls, DeleteAcls): ANY codes and NULL strings match
 * everything; pattern MATCH matches the LITERAL name, the literal "*" and
 * every PREFIXED pattern the name starts with (name NULL: any pattern
 * that is not ANY... as Kafka's ResourcePatternFilter does). */
typedef acl_binding acl_filter;

typedef struct authorizer authorizer;

authorizer *authz_new(void);
void authz_free(authorizer *a);

/* super.users (Kafka's: principals separated by ';'), and
 * allow.everyone.if.no.acl.found. 0, or -1 when out of memory. */
int authz_configure(authorizer *a, const char *super_users, int allow_everyone);

/* Are b's codes all known ones (not UNKNOWN, not past the last)? Kafka
 * cannot parse a request with such a code and closes the connection. */
int authz_codes_known(const acl_binding *b);
/* Is b a valid ACL to create? 0; -1 where Kafka answers
 * UNKNOWN_SERVER_ERROR without a message (ANY or MATCH codes; why[] = "");
 * -2 for INVALID_REQUEST with Kafka's message in why[]. */
int authz_validate(const acl_binding *b, char *why, size_t whylen);

/* Add b (copied). 1 if added, 0 if the same ACL was there, -1 when out of
 * memory. */
int authz_add(authorizer *a, const acl_binding *b);
/* Remove every ACL f matches, calling each(arg, acl) for it first (the
 * binding is valid during the call). Returns how many, or -1 when out of
 * memory (nothing removed then). */
int authz_remove(authorizer *a, const acl_filter *f,
                 void (*each)(void *arg, const acl_binding *acl), void *arg);
/* Call each(arg, acl) for every ACL f matches, in the set's order
 * (resource type, name, pattern type, then insertion). */
void authz_list(const authorizer *a, const acl_filter *f,
                void (*each)(void *arg, const acl_binding *acl), void *arg);
size_t authz_count(const authorizer *a);
/* Does f match b? */
int authz_filter_matches(const acl_filter *f, const acl_binding *b);

/* May `principal` at `host` perform `op` on the resource (type, name[0..
 * name_len))? 1 or 0. Allocates nothing. */
int authz_authorize(const authorizer *a, const char *principal,
                    const char *host, int res_type, const char *name,
                    size_t name_len, int op);
/* May the caller perform op on some resource of the type (Kafka's
 * authorizeByResourceType)? Scans the set: for rare calls
 * (InitProducerId) only. */
int authz_authorize_any(const authorizer *a, const char *principal,
                        const char *host, int res_type, int op);
/* Is principal a super user? */
int authz_is_super(const authorizer *a, const char *principal);
/* The operations (bits 1 << code) of ops_mask that the caller may perform
 * on the resource: the include_*_authorized_operations answers. */
int32_t authz_allowed_ops(const authorizer *a, const char *principal,
                          const char *host, int res_type, const char *name,
                          size_t name_len, int32_t ops_mask);

/* The ACL file's place in a data directory. */
#define ACL_FILE_DIR "security"
#define ACL_FILE_NAME "security/acls"
/* DATA/security/acls into out[cap]. */
void authz_file_path(const char *data_dir, char *out, size_t cap);

/* The file: read path into a (replacing what it holds). 0; 1 if the file
 * does not exist (a holds nothing then); -1 with why[] naming the file and
 * line (or the I/O error). */
int authz_load(authorizer *a, const char *path, char *why, size_t whylen);
/* Write every ACL to path (broker_write_atomic), making its directory
 * (0700) if needed. 0 or -errno. */
int authz_save(const authorizer *a, const char *path);

/* Names: Kafka's enum names ("TOPIC", "PREFIXED", "READ", "ALLOW", ...)
 * for a code, "UNKNOWN" for an unknown one; and the code for a name (case
 * insensitive, '-' or '_' alike as kafka-acls.sh accepts
 * "IdempotentWrite"), or -1. */
const char *acl_res_name(int code);
const char *acl_pat_name(int code);
const char *acl_op_name(int code);
const char *acl_perm_name(int code);
int acl_res_parse(const char *s);
int acl_pat_parse(const char *s);
int acl_op_parse(const char *s);
int acl_perm_parse(const char *s);

#endif
