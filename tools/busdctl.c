/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * busdctl.c — the command line of busdctl: global and verb options, the verb
 * table, --help and --version. Options may come before or after the verb;
 * "--" ends them (for a JSON argument that starts with '-').
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <locale.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/address.h"
#include "bus-limits.h"
#include "busdctl.h"

static const Verb verbs[] = {
        {
                .name = "list",
                .synopsis = "[--unique|--acquired|--activatable]",
                .summary = "List peers and the names they own",
                .description =
                        "Lists every name on the bus: well-known names first, alphabetically, then\n"
                        "unique names in the order they connected. For each: the owner's unique\n"
                        "name, PID, UID, user, process name, when it connected and, for well-known\n"
                        "names, how many peers are queued for the name besides its owner.\n"
                        "With --activatable: the names service files make activatable instead,\n"
                        "each with its activation state, owner, starts, failures and service\n"
                        "file.",
                .min_args = 0,
                .max_args = 0,
                .options = VERB_OPT_UNIQUE | VERB_OPT_ACQUIRED | VERB_OPT_ACTIVATABLE,
                .run = verb_list,
        },
        {
                .name = "status",
                .synopsis = "[NAME|UNIQUE|PID]",
                .summary = "Show a peer's credentials and state, or the bus's",
                .description =
                        "With a name, shows the credentials the bus recorded for its owner, its\n"
                        "process (command line read from /proc only after checking the PID still\n"
                        "names the same process), the names it owns and queues for, and its queues.\n"
                        "With a PID, does this for every peer of that process. Without an\n"
                        "argument, shows the bus: id, version, uptime, counts and limits.",
                .min_args = 0,
                .max_args = 1,
                .run = verb_status,
        },
        {
                .name = "call",
                .synopsis = "DEST PATH INTERFACE METHOD [JSON|@FILE|-] [--no-reply] [--no-check] "
                            "[--payload FILE]... [--save-payloads DIR]",
                .summary = "Call a method and print the reply",
                .description = "Calls METHOD on DEST and prints the reply body as JSON (indented on a\n"
                               "terminal, compact otherwise; --json=pretty|short forces one). An error\n"
                               "reply is printed as \"Error NAME: message\" on stderr and exits 1.\n"
                               "--timeout sets the call's deadline; --no-reply sends without waiting.\n"
                               "--payload attaches a file's contents as a payload (repeatable, up\n"
                               "to 16); --save-payloads writes the reply's payloads to DIR as\n"
                               "SERIAL-INDEX files and prints their paths and sizes.\n"
                               "The argument may be read from a file (@FILE) or standard input (-).\n"
                               "Where the callee declares the method (Introspect), the argument is\n"
                               "checked against its schema first, and a misfit is reported, naming\n"
                               "the field, without sending; --no-check sends it unchecked.",
                .min_args = 4,
                .max_args = 5,
                .options = VERB_OPT_NO_REPLY | VERB_OPT_PAYLOAD | VERB_OPT_SAVE_PAYLOADS |
                           VERB_OPT_NO_CHECK,
                .run = verb_call,
        },
        {
                .name = "emit",
                .synopsis = "PATH INTERFACE SIGNAL [JSON] [--destination NAME] [--key KEY] "
                            "[--payload FILE]...",
                .summary = "Emit a signal",
                .description = "Emits SIGNAL, broadcast to matching peers, or to one peer with\n"
                               "--destination. --key sets the key field that match rules can select on.\n"
                               "--payload attaches a file's contents as a payload (repeatable).",
                .min_args = 3,
                .max_args = 4,
                .options = VERB_OPT_DESTINATION | VERB_OPT_KEY | VERB_OPT_PAYLOAD,
                .run = verb_emit,
        },
        {
                .name = "wait",
                .synopsis = "NAME [--gone]",
                .summary = "Wait until a name has an owner (or none)",
                .description = "Returns once NAME has an owner or, with --gone, once it has none. With\n"
                               "--timeout, gives up after that long and exits 1. Watches the bus's\n"
                               "NameOwnerChanged signal; it does not poll.",
                .min_args = 1,
                .max_args = 1,
                .options = VERB_OPT_GONE,
                .run = verb_wait,
        },
        {
                .name = "stats",
                .synopsis = "",
                .summary = "Show the bus's counters",
                .description = "Shows the broker's counters and limits (the driver's GetStats).",
                .min_args = 0,
                .max_args = 0,
                .run = verb_stats,
        },
        {
                .name = "monitor",
                .synopsis = "[MATCH...] [--limit N] [--pcap FILE]",
                .summary = "Show the bus's traffic as it happens",
                .description =
                        "Becomes a monitor (org.busd.Bus.BecomeMonitor) and prints one line per\n"
                        "message: time, type, serials, sender and its credentials, destination,\n"
                        "path, interface, member, error, key, payload sizes and body. With --json, one\n"
                        "JSON object per line. MATCH rules (as for match rules, e.g.\n"
                        "\"type='signal',interface='org.example.Foo'\") select messages; none\n"
                        "selects all. Root and the bus's own user see all traffic, other users the\n"
                        "messages sent by, addressed to or delivered to peers of their uid.\n"
                        "--pcap writes a capture file (libpcap format, link type USER0 = 147) that\n"
                        "tcpdump -r and Wireshark read; --pcap=- writes it to stdout instead of\n"
                        "lines. Stops after --limit messages, after --timeout, or on Ctrl-C.",
                .min_args = 0,
                .max_args = BUS_MONITOR_RULES_MAX,
                .options = VERB_OPT_LIMIT | VERB_OPT_PCAP,
                .run = verb_monitor,
        },
        {
                .name = "introspect",
                .synopsis = "DEST PATH [INTERFACE]",
                .summary = "Show an object's interfaces, members and property values",
                .description =
                        "Calls org.busd.Introspectable.Introspect on PATH of DEST and shows each\n"
                        "interface (or only INTERFACE): methods with their argument and result\n"
                        "schemas, properties with their schema, current value (org.busd.Properties\n"
                        "GetAll) and access, signals with their argument schema. With --json, the\n"
                        "introspection JSON with each interface's current \"values\" added.",
                .min_args = 2,
                .max_args = 3,
                .run = verb_introspect,
        },
        {
                .name = "tree",
                .synopsis = "[DEST...]",
                .summary = "Show the object paths of services as trees",
                .description =
                        "Follows the children Introspect lists, from /, and prints the object\n"
                        "paths of each DEST as a tree (without DEST: of every well-known name on\n"
                        "the bus). With --json, {DEST: [paths...]}. At most 4096 objects and 64\n"
                        "levels per service are shown.",
                .min_args = 0,
                .max_args = 64,
                .run = verb_tree,
        },
        {
                .name = "get-property",
                .synopsis = "DEST PATH INTERFACE NAME...",
                .summary = "Print property values",
                .description =
                        "Calls org.busd.Properties.Get for each NAME and prints each value as\n"
                        "compact JSON on a line of its own; with --json, one object {NAME: value}.\n"
                        "Exits 1 if any property could not be read (the others are printed).",
                .min_args = 4,
                .max_args = 64,
                .run = verb_get_property,
        },
        {
                .name = "set-property",
                .synopsis = "DEST PATH INTERFACE NAME JSON",
                .summary = "Set a property",
                .description =
                        "Calls org.busd.Properties.Set with the JSON value (a string needs its\n"
                        "quotes: '\"text\"'). The service checks it against the property's schema;\n"
                        "a read-only property answers org.busd.Error.PropertyReadOnly.",
                .min_args = 5,
                .max_args = 5,
                .run = verb_set_property,
        },
        {
                .name = "check-interface",
                .synopsis = "FILE...",
                .summary = "Check interface description files and show them",
                .description =
                        "Loads each FILE as libbusclient does (bus_interface_file_load()): every\n"
                        "name, schema and access checked. Prints its members as introspect does,\n"
                        "or the file's JSON with --json; a bad file is reported with where it is\n"
                        "wrong and makes the exit status 1. Needs no bus.",
                .min_args = 1,
                .max_args = 64,
                .run = verb_check_interface,
        },
        {
                .name = "reload",
                .synopsis = "",
                .summary = "Make the bus re-read its configuration file",
                .description =
                        "Calls org.busd.Bus.ReloadConfig: the bus re-reads the configuration file\n"
                        "it was started with (busd --config, else /etc/busd/busd.json), as on\n"
                        "SIGHUP. Prints nothing on success (the reply, {}, with --json). If the\n"
                        "file is missing, unreadable or invalid, the bus keeps its configuration\n"
                        "and busdctl prints the reason and exits 1. Only root and the user the bus\n"
                        "runs as may reload.",
                .min_args = 0,
                .max_args = 0,
                .run = verb_reload,
        },
        {
                .name = "policy",
                .synopsis = "check [WHAT...] | explain ACTION [KEY=VALUE...] --uid=U [--gid=G...] "
                            "[--policy=WHAT...] | test CASES.json",
                .summary = "Check, explain and test the bus policy (offline)",
                .description =
                        "Reads the policy as busd would (docs/POLICY.md), with busd's own code;\n"
                        "needs no bus. WHAT is system (default), user, none, a file or a directory.\n"
                        "check: load errors, users and groups that do not resolve, unreachable,\n"
                        "shadowed and redundant rules; exit 1 if any. explain: the decision for\n"
                        "ACTION (connect, own, call, emit, receive, monitor, activate) with KEYs\n"
                        "name, destination, sender, owner_name (repeatable), path, interface,\n"
                        "member, type; every rule of the action, matched or why not; exit 1 if\n"
                        "denied. test: golden cases {\"policy\": [WHAT...], \"cases\": [{\"uid\",\n"
                        "\"gids\", \"action\", KEY..., \"expect\": \"allow\"|\"deny\", \"rule\"?}]};\n"
                        "exit 1 if any fails.",
                .min_args = 1,
                .max_args = 64,
                .options = VERB_OPT_POLICY,
                .run = verb_policy,
        },
};

enum {
        ARG_ADDRESS = 0x100,
        ARG_SYSTEM,
        ARG_USER,
        ARG_JSON,
        ARG_TIMEOUT,
        ARG_NO_LEGEND,
        ARG_VERSION,
        ARG_UNIQUE,
        ARG_ACQUIRED,
        ARG_ACTIVATABLE,
        ARG_NO_REPLY,
        ARG_NO_CHECK,
        ARG_DESTINATION,
        ARG_KEY,
        ARG_GONE,
        ARG_PAYLOAD,
        ARG_SAVE_PAYLOADS,
        ARG_LIMIT,
        ARG_PCAP,
        ARG_UID,
        ARG_GID,
        ARG_POLICY,
};

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, ARG_VERSION },
        { "address", required_argument, NULL, ARG_ADDRESS },
        { "system", no_argument, NULL, ARG_SYSTEM },
        { "user", no_argument, NULL, ARG_USER },
        { "json", optional_argument, NULL, ARG_JSON },
        { "timeout", required_argument, NULL, ARG_TIMEOUT },
        { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
        { "unique", no_argument, NULL, ARG_UNIQUE },
        { "acquired", no_argument, NULL, ARG_ACQUIRED },
        { "activatable", no_argument, NULL, ARG_ACTIVATABLE },
        { "no-reply", no_argument, NULL, ARG_NO_REPLY },
        { "no-check", no_argument, NULL, ARG_NO_CHECK },
        { "destination", required_argument, NULL, ARG_DESTINATION },
        { "key", required_argument, NULL, ARG_KEY },
        { "gone", no_argument, NULL, ARG_GONE },
        { "payload", required_argument, NULL, ARG_PAYLOAD },
        { "save-payloads", required_argument, NULL, ARG_SAVE_PAYLOADS },
        { "limit", required_argument, NULL, ARG_LIMIT },
        { "pcap", required_argument, NULL, ARG_PCAP },
        { "uid", required_argument, NULL, ARG_UID },
        { "gid", required_argument, NULL, ARG_GID },
        { "policy", required_argument, NULL, ARG_POLICY },
        {},
};

static const struct {
        unsigned mask;
        const char *name;
        const char *help;
} verb_option_help[] = {
        { VERB_OPT_UNIQUE, "--unique", "only unique names" },
        { VERB_OPT_ACQUIRED, "--acquired", "only well-known names" },
        { VERB_OPT_ACTIVATABLE, "--activatable", "names service files make activatable" },
        { VERB_OPT_NO_REPLY, "--no-reply", "do not ask for or wait for a reply" },
        { VERB_OPT_NO_CHECK, "--no-check", "do not check the argument against Introspect" },
        { VERB_OPT_DESTINATION, "--destination=NAME", "send to NAME only" },
        { VERB_OPT_KEY, "--key=KEY", "set the key field" },
        { VERB_OPT_GONE, "--gone", "wait until NAME has no owner" },
        { VERB_OPT_PAYLOAD, "--payload=FILE", "attach FILE's contents (repeatable)" },
        { VERB_OPT_SAVE_PAYLOADS, "--save-payloads=DIR", "save the reply's payloads in DIR" },
        { VERB_OPT_LIMIT, "--limit=N", "stop after N messages" },
        { VERB_OPT_PCAP, "--pcap=FILE", "write a pcap capture to FILE (- = stdout)" },
        { VERB_OPT_POLICY, "--uid=U --gid=G --policy=WHAT",
          "who asks (explain), which policy (repeatable)" },
};

static const char global_options_help[] =
        "  --address=PATH      connect to the bus socket at PATH\n"
        "  --system            connect to the system bus (" BUS_SYSTEM_ADDRESS ")\n"
        "  --user              connect to the user bus (" BUS_USER_ADDRESS_TEXT ")\n"
        "  --json[=short|pretty]\n"
        "                      print JSON (no value: pretty on a terminal, else short)\n"
        "  --timeout=SECS      call timeout; for wait, how long to wait\n"
        "  --no-legend         no header line\n"
        "  -h --help           show help (busdctl VERB --help for a verb)\n"
        "  --version           show the version\n";

static void help(void) {
        printf("Usage: busdctl [OPTIONS...] VERB [ARGUMENTS...]\n\n"
               "Introspect and talk to a busd message bus.\n\n"
               "Verbs:\n");
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                printf("  %-16s %s\n", verbs[i].name, verbs[i].summary);
        printf("\nOptions:\n%s\n"
               "Without --address, --system or --user, busdctl connects to $BUSD_ADDRESS,\n"
               "or the system bus if it is unset. See busdctl(1).\n",
               global_options_help);
}

static void help_verb(const Verb *v) {
        printf("Usage: busdctl [OPTIONS...] %s%s%s\n\n%s.\n\n%s\n", v->name,
               v->synopsis[0] ? " " : "", v->synopsis, v->summary, v->description);
        if (v->options) {
                printf("\nOptions of %s:\n", v->name);
                for (size_t i = 0; i < sizeof(verb_option_help) / sizeof(verb_option_help[0]); i++)
                        if (!(v->options & verb_option_help[i].mask))
                                continue;
                        else if (strlen(verb_option_help[i].name) < 20)
                                printf("  %-20s%s\n", verb_option_help[i].name,
                                       verb_option_help[i].help);
                        else /* too long for its column: the help goes below */
                                printf("  %s\n%22s%s\n", verb_option_help[i].name, "",
                                       verb_option_help[i].help);
        }
        printf("\nGlobal options:\n%s", global_options_help);
}

static const Verb *verb_find(const char *name) {
        for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        return &verbs[i];
        return NULL;
}

/* Parse "SECS" (decimals allowed) into µs, rounding up. */
static int parse_timeout(const char *s, uint64_t *ret) {
        char *end = NULL;
        uint64_t usec;
        double secs;

        errno = 0;
        secs = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !isfinite(secs) || secs <= 0 || secs > 1e9)
                return -EINVAL;
        usec = (uint64_t)(secs * 1e6);
        if ((double)usec < secs * 1e6)
                usec++; /* round up, without libm's ceil() */
        *ret = usec;
        return 0;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("busdctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'busdctl --help'.\n", stderr);
        return EXIT_USAGE;
}

int main(int argc, char **argv) {
        Busdctl ctx = { .legend = true };
        const char *json_value = NULL;
        bool want_help = false;
        const Verb *v;
        int c, n_args;

        setlocale(LC_ALL, "");
        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        want_help = true;
                        break;
                case ARG_VERSION:
                        printf("busdctl %s\n", PACKAGE_VERSION);
                        return EXIT_SUCCESS;
                case ARG_ADDRESS:
                        if (!optarg[0])
                                return usage_error("--address needs a socket path");
                        ctx.address_kind = ADDRESS_PATH;
                        ctx.address = optarg;
                        break;
                case ARG_SYSTEM:
                        ctx.address_kind = ADDRESS_SYSTEM;
                        break;
                case ARG_USER:
                        ctx.address_kind = ADDRESS_USER;
                        break;
                case ARG_JSON:
                        ctx.json_given = true;
                        json_value = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (parse_timeout(optarg, &ctx.timeout_usec) < 0)
                                return usage_error("invalid --timeout '%s': expected a number "
                                                   "of seconds greater than 0, such as 2.5",
                                                   optarg);
                        break;
                case ARG_NO_LEGEND:
                        ctx.legend = false;
                        break;
                case ARG_UNIQUE:
                        ctx.verb_options |= VERB_OPT_UNIQUE;
                        break;
                case ARG_ACQUIRED:
                        ctx.verb_options |= VERB_OPT_ACQUIRED;
                        break;
                case ARG_ACTIVATABLE:
                        ctx.verb_options |= VERB_OPT_ACTIVATABLE;
                        break;
                case ARG_NO_REPLY:
                        ctx.verb_options |= VERB_OPT_NO_REPLY;
                        break;
                case ARG_NO_CHECK:
                        ctx.verb_options |= VERB_OPT_NO_CHECK;
                        break;
                case ARG_DESTINATION:
                        ctx.verb_options |= VERB_OPT_DESTINATION;
                        ctx.destination = optarg;
                        break;
                case ARG_KEY:
                        ctx.verb_options |= VERB_OPT_KEY;
                        ctx.key = optarg;
                        break;
                case ARG_GONE:
                        ctx.verb_options |= VERB_OPT_GONE;
                        break;
                case ARG_PAYLOAD:
                        if (!optarg[0])
                                return usage_error("--payload needs a file name");
                        if (ctx.n_payloads == BUSDCTL_PAYLOADS_MAX)
                                return usage_error("at most %u --payload files per message",
                                                   BUSDCTL_PAYLOADS_MAX);
                        ctx.verb_options |= VERB_OPT_PAYLOAD;
                        ctx.payloads[ctx.n_payloads++] = optarg;
                        break;
                case ARG_SAVE_PAYLOADS:
                        if (!optarg[0])
                                return usage_error("--save-payloads needs a directory");
                        ctx.verb_options |= VERB_OPT_SAVE_PAYLOADS;
                        ctx.save_dir = optarg;
                        break;
                case ARG_LIMIT: {
                        char *end = NULL;

                        errno = 0;
                        ctx.limit = strtoull(optarg, &end, 10);
                        if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
                            ctx.limit == 0)
                                return usage_error("invalid --limit '%s': expected a number of "
                                                   "messages greater than 0",
                                                   optarg);
                        ctx.verb_options |= VERB_OPT_LIMIT;
                        break;
                }
                case ARG_PCAP:
                        if (!optarg[0])
                                return usage_error("--pcap needs a file name (or - for stdout)");
                        ctx.verb_options |= VERB_OPT_PCAP;
                        ctx.pcap = optarg;
                        break;
                case ARG_UID:
                case ARG_GID: {
                        char *end;
                        unsigned long id;
                        struct passwd *pw = NULL;
                        struct group *gr = NULL;

                        errno = 0;
                        id = strtoul(optarg, &end, 10);
                        if (!optarg[0] || *end || errno || id >= UINT32_MAX) {
                                if (c == ARG_UID && (pw = getpwnam(optarg)))
                                        id = pw->pw_uid;
                                else if (c == ARG_GID && (gr = getgrnam(optarg)))
                                        id = gr->gr_gid;
                                else
                                        return usage_error("unknown %s '%s'",
                                                           c == ARG_UID ? "user" : "group", optarg);
                        }
                        ctx.verb_options |= VERB_OPT_POLICY;
                        if (c == ARG_UID) {
                                ctx.policy_uid = (uid_t)id;
                                ctx.policy_uid_given = true;
                        } else {
                                if (ctx.n_policy_gids >= sizeof(ctx.policy_gids) / sizeof(ctx.policy_gids[0]))
                                        return usage_error("too many --gid");
                                ctx.policy_gids[ctx.n_policy_gids++] = (gid_t)id;
                        }
                        break;
                }
                case ARG_POLICY:
                        if (!optarg[0])
                                return usage_error("--policy needs system, user, none or a path");
                        if (ctx.n_policies >= sizeof(ctx.policies) / sizeof(ctx.policies[0]))
                                return usage_error("too many --policy");
                        ctx.verb_options |= VERB_OPT_POLICY;
                        ctx.policies[ctx.n_policies++] = optarg;
                        break;
                case '?':
                default:
                        if (optopt && optopt < 0x100)
                                return usage_error("unknown option '-%c'", optopt);
                        return usage_error("unknown option or missing value in '%s'",
                                           argv[optind - 1]);
                }
        }
        if (ctx.json_given && output_json_parse(json_value, &ctx.json) < 0)
                return usage_error("invalid --json value '%s': use --json=short or --json=pretty",
                                   json_value);

        if (optind >= argc) {
                if (want_help) {
                        help();
                        return EXIT_SUCCESS;
                }
                return usage_error("no verb given");
        }
        v = verb_find(argv[optind]);
        if (!v)
                return usage_error("unknown verb '%s'", argv[optind]);
        if (want_help) {
                help_verb(v);
                return EXIT_SUCCESS;
        }
        for (size_t i = 0; i < sizeof(verb_option_help) / sizeof(verb_option_help[0]); i++)
                if ((ctx.verb_options & verb_option_help[i].mask) &&
                    !(v->options & verb_option_help[i].mask)) {
                        fprintf(stderr, "busdctl: %s does not take %s\nTry 'busdctl %s --help'.\n",
                                v->name, verb_option_help[i].name, v->name);
                        return EXIT_USAGE;
                }
        n_args = argc - optind - 1;
        if (n_args < (int)v->min_args || n_args > (int)v->max_args) {
                fprintf(stderr, "busdctl: %s %s\nUsage: busdctl %s %s\nTry 'busdctl %s --help'.\n",
                        v->name,
                        n_args < (int)v->min_args ? "needs more arguments" : "got too many arguments",
                        v->name, v->synopsis, v->name);
                return EXIT_USAGE;
        }
        return v->run(&ctx, argc - optind, argv + optind);
}
