/* SPDX-License-Identifier: Apache-2.0 */
/*
 * acls.c — `nodata acls add|list|remove` on a data directory's ACL file
 * (DATA/security/acls, broker/authorizer.h), with kafka-acls.sh's option
 * names and output.
 *
 * add and remove refuse while a broker holds the data directory: the
 * broker keeps its ACLs in memory and writes the whole file at each
 * CreateAcls/DeleteAcls, so a change made beside it would not be in force
 * until a restart and would be undone by the broker's next write. A
 * security change that silently does not apply is worse than a refusal,
 * which names what works instead: kafka-acls.sh --bootstrap-server
 * against the broker. While the directory is free they hold its lock
 * (the store is opened), so no broker starts half-way through. list only
 * reads: it works beside a running broker, whose file is its state.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authorizer.h"
#include "cli.h"

static const char acls_usage[] =
    "usage: nodata acls add|list|remove [--data DIR] RESOURCE... [OPTIONS]\n"
    "\n"
    "Manage the ACLs `nodata serve` enforces when authorizer.class.name is\n"
    "set (docs/security.md), in the data directory, with kafka-acls.sh's\n"
    "option names. add and remove need the broker stopped; with it\n"
    "running, use kafka-acls.sh --bootstrap-server (which also works\n"
    "against nodata). list works either way.\n"
    "\n"
    "Resources (each may be given several times):\n"
    "  --topic NAME              a topic ('*': every topic)\n"
    "  --group NAME              a consumer group ('*': every group)\n"
    "  --cluster                 the cluster\n"
    "  --transactional-id NAME   a transactional id ('*': every one)\n"
    "  --resource-pattern-type literal|prefixed|any|match\n"
    "                            default literal; add takes literal or\n"
    "                            prefixed, list and remove also any or match\n"
    "\n"
    "ACL entries:\n"
    "  --allow-principal P       e.g. User:alice, User:* (several allowed)\n"
    "  --deny-principal P\n"
    "  --allow-host H            an IP address or * (default *)\n"
    "  --deny-host H\n"
    "  --operation OP            All (default), Read, Write, Create, Delete,\n"
    "                            Alter, Describe, ClusterAction,\n"
    "                            DescribeConfigs, AlterConfigs,\n"
    "                            IdempotentWrite (several allowed)\n"
    "  --producer                Write, Describe and Create on the topics\n"
    "                            (and IdempotentWrite on the cluster with\n"
    "                            --idempotent; Write and Describe on the\n"
    "                            transactional ids given)\n"
    "  --consumer                Read and Describe on the topics, Read on\n"
    "                            the groups (needs --group)\n"
    "  --principal P             list: only this principal's ACLs\n"
    "  --force                   remove without asking\n"
    "  --data DIR                data directory (default $NODATA_DATA,\n"
    "                            $NODATA_DIR, else ./data)\n"
    "\n"
    "Examples:\n"
    "  nodata acls add --allow-principal User:alice --operation Read \\\n"
    "      --topic orders --group billing --data /var/lib/nodata\n"
    "  nodata acls add --allow-principal User:app --producer \\\n"
    "      --topic app. --resource-pattern-type prefixed\n"
    "  nodata acls list --topic orders\n"
    "  nodata acls remove --topic orders --force\n"
    "\n"
    "Exit status: 0 ok, 1 runtime failure (the directory held by a broker,\n"
    "a damaged ACL file), 2 usage error.\n";

#define MAXN 64

typedef struct acl_args {
  struct {
    int type;
    const char *name;
  } res[MAXN];
  int nres;
  const char *allow_p[MAXN], *deny_p[MAXN], *allow_h[MAXN], *deny_h[MAXN];
  int nallow_p, ndeny_p, nallow_h, ndeny_h;
  int ops[MAXN];
  int nops;
  int pattern; /* -1 = default */
  int producer, consumer, idempotent, force;
  const char *principal;
} acl_args;

/* The operations kafka-acls.sh accepts per resource type
 * (AclEntry.supportedOperations; ALL everywhere). */
static int op_supported(int type, int op) {
  if (op == ACL_OP_ALL)
    return 1;
  switch (type) {
  case ACL_RES_TOPIC:
    return op == ACL_OP_READ || op == ACL_OP_WRITE || op == ACL_OP_CREATE ||
           op == ACL_OP_DESCRIBE || op == ACL_OP_DELETE || op == ACL_OP_ALTER ||
           op == ACL_OP_DESCRIBE_CONFIGS || op == ACL_OP_ALTER_CONFIGS;
  case ACL_RES_GROUP:
    return op == ACL_OP_READ || op == ACL_OP_DESCRIBE || op == ACL_OP_DELETE ||
           op == ACL_OP_DESCRIBE_CONFIGS || op == ACL_OP_ALTER_CONFIGS;
  case ACL_RES_CLUSTER:
    return op == ACL_OP_CREATE || op == ACL_OP_CLUSTER_ACTION ||
           op == ACL_OP_DESCRIBE_CONFIGS || op == ACL_OP_ALTER_CONFIGS ||
           op == ACL_OP_IDEMPOTENT_WRITE || op == ACL_OP_ALTER ||
           op == ACL_OP_DESCRIBE;
  case ACL_RES_TRANSACTIONAL_ID:
    return op == ACL_OP_DESCRIBE || op == ACL_OP_WRITE;
  }
  return 0;
}

/* Kafka's names as kafka-acls prints them: "Topic" -> TOPIC enums are
 * printed upper case in ResourcePattern, operations upper case in
 * AccessControlEntry. */
static void print_acl(const acl_binding *b) {
  printf("\t(principal=%s, host=%s, operation=%s, permissionType=%s)\n",
         b->principal, b->host, acl_op_name(b->op), acl_perm_name(b->perm));
}

typedef struct list_state {
  int8_t type, pattern;
  const char *name;
  int any;
} list_state;

static void list_one(void *arg, const acl_binding *b) {
  list_state *st = arg;
  if (!st->any || st->type != b->res_type || st->pattern != b->pattern ||
      strcmp(st->name, b->name) != 0) {
    printf("%sCurrent ACLs for resource `ResourcePattern(resourceType=%s, "
           "name=%s, patternType=%s)`: \n",
           st->any ? "\n" : "", acl_res_name(b->res_type), b->name,
           acl_pat_name(b->pattern));
    st->any = 1;
    st->type = b->res_type;
    st->pattern = b->pattern;
    st->name = b->name;
  }
  print_acl(b);
}

static int add_res(acl_args *a, int type, const char *name) {
  if (a->nres == MAXN)
    return cli_usage_error("acls", "at most %d resources", MAXN);
  a->res[a->nres].type = type;
  a->res[a->nres].name = name;
  a->nres++;
  return 0;
}

static int add_str(const char **list, int *n, const char *v) {
  if (*n == MAXN)
    return cli_usage_error("acls", "at most %d of each option", MAXN);
  list[(*n)++] = v;
  return 0;
}

static int load(const char *dir, authorizer *a, char *path, size_t cap) {
  authz_file_path(dir, path, cap);
  char why[4200];
  if (authz_load(a, path, why, sizeof why) < 0) {
    cli_error("acls", "%s", why);
    return CLI_FAIL;
  }
  return 0;
}

static int do_list(const char *dir, const acl_args *args) {
  authorizer *a = authz_new();
  char path[4096];
  if (!a)
    return CLI_FAIL;
  int rc = load(dir, a, path, sizeof path);
  if (rc) {
    authz_free(a);
    return rc;
  }
  list_state st = {0};
  int pattern = args->pattern < 0 ? ACL_PAT_ANY : args->pattern;
  /* No resource: everything (principal filter aside). */
  if (!args->nres) {
    acl_filter f = {ACL_RES_ANY, ACL_PAT_ANY, NULL,        args->principal,
                    NULL,        ACL_OP_ANY,  ACL_PERM_ANY};
    authz_list(a, &f, list_one, &st);
  }
  for (int i = 0; i < args->nres; i++) {
    acl_filter f = {(int8_t)args->res[i].type,
                    (int8_t)pattern,
                    args->res[i].name,
                    args->principal,
                    NULL,
                    ACL_OP_ANY,
                    ACL_PERM_ANY};
    authz_list(a, &f, list_one, &st);
  }
  authz_free(a);
  return CLI_OK;
}

/* Every (resource, principal, host, operation, permission) the options
 * name, as kafka-acls.sh expands them, into each(arg, binding). */
static int expand(const acl_args *args, int pattern,
                  int (*each)(void *arg, const acl_binding *b), void *arg) {
  static const char *const star[] = {"*"};
  for (int perm = ACL_PERM_DENY; perm <= ACL_PERM_ALLOW; perm++) {
    const char *const *ps =
        perm == ACL_PERM_ALLOW ? args->allow_p : args->deny_p;
    int np = perm == ACL_PERM_ALLOW ? args->nallow_p : args->ndeny_p;
    const char *const *hs =
        perm == ACL_PERM_ALLOW ? args->allow_h : args->deny_h;
    int nh = perm == ACL_PERM_ALLOW ? args->nallow_h : args->ndeny_h;
    if (!nh) {
      hs = star;
      nh = 1;
    }
    for (int r = 0; r < args->nres; r++) {
      int type = args->res[r].type;
      int ops[16], nops = 0;
      if (args->producer || args->consumer) {
        if (type == ACL_RES_TOPIC && args->producer) {
          ops[nops++] = ACL_OP_WRITE;
          ops[nops++] = ACL_OP_DESCRIBE;
          ops[nops++] = ACL_OP_CREATE;
        } else if (type == ACL_RES_TOPIC) {
          ops[nops++] = ACL_OP_READ;
          ops[nops++] = ACL_OP_DESCRIBE;
        } else if (type == ACL_RES_GROUP && args->consumer) {
          ops[nops++] = ACL_OP_READ;
        } else if (type == ACL_RES_TRANSACTIONAL_ID && args->producer) {
          ops[nops++] = ACL_OP_WRITE;
          ops[nops++] = ACL_OP_DESCRIBE;
        } else if (type == ACL_RES_CLUSTER && args->producer &&
                   args->idempotent) {
          ops[nops++] = ACL_OP_IDEMPOTENT_WRITE;
        }
      } else {
        for (int k = 0; k < args->nops && nops < 16; k++)
          ops[nops++] = args->ops[k];
        if (!nops)
          ops[nops++] = ACL_OP_ALL;
      }
      for (int k = 0; k < nops; k++) {
        if (!op_supported(type, ops[k])) {
          cli_error("acls",
                    "ResourceType %s only supports some operations; "
                    "%s is not one of them",
                    acl_res_name(type), acl_op_name(ops[k]));
          return CLI_USAGE;
        }
        for (int p = 0; p < np; p++)
          for (int h = 0; h < nh; h++) {
            /* The cluster has one name: its ACLs are literal. */
            int pat = type == ACL_RES_CLUSTER && (pattern == ACL_PAT_PREFIXED ||
                                                  pattern == ACL_PAT_LITERAL)
                          ? ACL_PAT_LITERAL
                          : pattern;
            acl_binding b = {(int8_t)type, (int8_t)pat, args->res[r].name,
                             ps[p],        hs[h],       (int8_t)ops[k],
                             (int8_t)perm};
            int rc = each(arg, &b);
            if (rc)
              return rc;
          }
      }
    }
  }
  return 0;
}

static int add_each(void *arg, const acl_binding *b) {
  char why[512];
  if (authz_validate(b, why, sizeof why) != 0) {
    cli_error("acls", "%s", *why ? why : "invalid ACL");
    return CLI_USAGE;
  }
  if (authz_add(arg, b) < 0) {
    cli_error("acls", "out of memory");
    return CLI_FAIL;
  }
  return 0;
}

typedef struct remove_state {
  authorizer *a;
  int removed;
} remove_state;

static void removed_one(void *arg, const acl_binding *b) {
  (void)arg;
  printf("Removed ACL: (resourceType=%s, name=%s, patternType=%s) ",
         acl_res_name(b->res_type), b->name, acl_pat_name(b->pattern));
  print_acl(b);
}

static int remove_each(void *arg, const acl_binding *b) {
  remove_state *st = arg;
  int n = authz_remove(st->a, b, removed_one, NULL);
  if (n < 0) {
    cli_error("acls", "out of memory");
    return CLI_FAIL;
  }
  st->removed += n;
  return 0;
}

static int ask(const char *what) {
  fprintf(stderr, "Are you sure you want to %s? (y/n)\n", what);
  char line[16];
  if (!fgets(line, sizeof line, stdin))
    return 0;
  return tolower((unsigned char)line[0]) == 'y';
}

static int do_change(const char *dir, const acl_args *args, int adding) {
  if (!args->nres)
    return cli_usage_error("acls", "name a resource: --topic, --group, "
                                   "--cluster or --transactional-id");
  if (adding && !args->nallow_p && !args->ndeny_p)
    return cli_usage_error("acls", "give --allow-principal or "
                                   "--deny-principal");
  int pattern = args->pattern < 0 ? ACL_PAT_LITERAL : args->pattern;
  if (adding && pattern != ACL_PAT_LITERAL && pattern != ACL_PAT_PREFIXED)
    return cli_usage_error("acls", "add takes --resource-pattern-type "
                                   "literal or prefixed");
  nd_store *store = NULL;
  /* Holds the directory's lock while the file changes (see the top). */
  pid_t pid = 0;
  if (nd_lock_holder(dir, &pid) == 0 && pid != 0) {
    cli_error("acls",
              "data directory %s is held by pid %d (a running broker keeps "
              "its ACLs in memory); change them through it: kafka-acls.sh "
              "--bootstrap-server HOST:PORT --command-config FILE %s ...",
              dir, (int)pid, adding ? "--add" : "--remove");
    return CLI_FAIL;
  }
  int rc = cli_open_write("acls", dir, 0, &store);
  if (rc)
    return rc;
  authorizer *a = authz_new();
  char path[4096];
  if (!a) {
    cli_close("acls", store);
    return CLI_FAIL;
  }
  rc = load(dir, a, path, sizeof path);
  size_t before = rc ? 0 : authz_count(a);
  if (!rc && adding) {
    rc = expand(args, pattern, add_each, a);
    if (!rc && authz_count(a) != before)
      for (int i = 0; i < args->nres; i++) {
        acl_filter f = {(int8_t)args->res[i].type,
                        (int8_t)pattern,
                        args->res[i].name,
                        NULL,
                        NULL,
                        ACL_OP_ANY,
                        ACL_PERM_ANY};
        list_state st = {0};
        authz_list(a, &f, list_one, &st);
      }
  } else if (!rc) {
    remove_state st = {a, 0};
    if (!args->force && !ask("remove these ACLs")) {
      fprintf(stderr, "nothing removed\n");
      rc = CLI_FAIL;
    } else if (!args->nallow_p && !args->ndeny_p) {
      /* No principal: every ACL of each resource. */
      for (int i = 0; i < args->nres && !rc; i++) {
        acl_filter f = {(int8_t)args->res[i].type,
                        (int8_t)pattern,
                        args->res[i].name,
                        NULL,
                        NULL,
                        ACL_OP_ANY,
                        ACL_PERM_ANY};
        rc = remove_each(&st, &f);
      }
    } else {
      rc = expand(args, pattern, remove_each, &st);
    }
    if (!rc && !st.removed)
      printf("No ACL matched.\n");
  }
  if (!rc && authz_count(a) != before) {
    int w = authz_save(a, path);
    if (w < 0) {
      cli_error("acls", "cannot write %s: %s", path, strerror(-w));
      rc = CLI_FAIL;
    }
  }
  authz_free(a);
  int crc = cli_close("acls", store);
  return rc ? rc : crc;
}

int cli_acls_main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "list") &&
                   strcmp(argv[1], "remove"))) {
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
      fputs(acls_usage, stdout);
      return CLI_OK;
    }
    return cli_usage_error("acls", "give add, list or remove");
  }
  const char *verb = argv[1];
  static acl_args args;
  memset(&args, 0, sizeof args);
  args.pattern = -1;
  const char *data = NULL;
  cli_opts o;
  cli_opts_init(&o, "acls", argc - 1, argv + 1);
  int rc = 0;
  while (cli_next(&o) && !rc) {
    if (cli_flag(&o, "-h", "--help")) {
      fputs(acls_usage, stdout);
      return CLI_OK;
    } else if (cli_value(&o, NULL, "--data")) {
      data = o.val;
    } else if (cli_value(&o, NULL, "--topic")) {
      rc = add_res(&args, ACL_RES_TOPIC, o.val);
    } else if (cli_value(&o, NULL, "--group")) {
      rc = add_res(&args, ACL_RES_GROUP, o.val);
    } else if (cli_value(&o, NULL, "--transactional-id")) {
      rc = add_res(&args, ACL_RES_TRANSACTIONAL_ID, o.val);
    } else if (cli_flag(&o, NULL, "--cluster")) {
      rc = add_res(&args, ACL_RES_CLUSTER, ACL_CLUSTER_NAME);
    } else if (cli_value(&o, NULL, "--resource-pattern-type")) {
      args.pattern = acl_pat_parse(o.val);
      if (args.pattern < ACL_PAT_ANY)
        return cli_usage_error("acls",
                               "--resource-pattern-type: '%s' is not literal, "
                               "prefixed, any or match",
                               o.val);
    } else if (cli_value(&o, NULL, "--allow-principal")) {
      rc = add_str(args.allow_p, &args.nallow_p, o.val);
    } else if (cli_value(&o, NULL, "--deny-principal")) {
      rc = add_str(args.deny_p, &args.ndeny_p, o.val);
    } else if (cli_value(&o, NULL, "--allow-host")) {
      rc = add_str(args.allow_h, &args.nallow_h, o.val);
    } else if (cli_value(&o, NULL, "--deny-host")) {
      rc = add_str(args.deny_h, &args.ndeny_h, o.val);
    } else if (cli_value(&o, NULL, "--principal")) {
      args.principal = o.val;
    } else if (cli_value(&o, NULL, "--operation")) {
      int op = acl_op_parse(o.val);
      if (op <= ACL_OP_ANY || op > ACL_OP_IDEMPOTENT_WRITE)
        return cli_usage_error("acls", "--operation: unknown operation '%s'",
                               o.val);
      if (args.nops == MAXN)
        return cli_usage_error("acls", "too many --operation");
      args.ops[args.nops++] = op;
    } else if (cli_flag(&o, NULL, "--producer")) {
      args.producer = 1;
    } else if (cli_flag(&o, NULL, "--consumer")) {
      args.consumer = 1;
    } else if (cli_flag(&o, NULL, "--idempotent")) {
      args.idempotent = 1;
    } else if (cli_flag(&o, NULL, "--force")) {
      args.force = 1;
    } else {
      return cli_unknown(&o);
    }
  }
  if (rc)
    return rc;
  if (o.bad)
    return CLI_USAGE;
  if ((args.producer || args.consumer) && args.nops)
    return cli_usage_error("acls", "--producer and --consumer choose the "
                                   "operations; leave out --operation");
  if (args.consumer) {
    int groups = 0;
    for (int i = 0; i < args.nres; i++)
      groups |= args.res[i].type == ACL_RES_GROUP;
    if (!groups)
      return cli_usage_error("acls", "--consumer needs --group");
  }
  if (args.producer && args.idempotent)
    rc = add_res(&args, ACL_RES_CLUSTER, ACL_CLUSTER_NAME);
  if (rc)
    return rc;
  const char *dir = cli_data_dir(data);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    cli_error("acls",
              "no data directory at %s (give --data DIR or set NODATA_DIR)",
              dir);
    return CLI_FAIL;
  }
  if (!strcmp(verb, "list"))
    return do_list(dir, &args);
  return do_change(dir, &args, !strcmp(verb, "add"));
}
