/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * activation-service.c — the service test-bus-activation's service files
 * start (exec backend). What it does is chosen by its arguments, since a
 * started service gets a clean environment:
 *
 *   serve [--delay-ms N] [--stamp FILE] NAME...
 *        connect to $BUSD_ADDRESS, serve /org/example/Act (org.example.Act:
 *        Echo returns {"args": the call's body, "pid", "env": [NAME=...],
 *        "nofile_soft": its RLIMIT_NOFILE soft limit}),
 *        wait N ms first if asked, then take each NAME; run until the bus
 *        goes away. --stamp: write the CLOCK_MONOTONIC µs at which the
 *        first name was requested.
 *   exit CODE FILE     write the CLOCK_MONOTONIC µs to FILE, exit CODE
 *   signal SIG FILE    write the time to FILE, die by signal SIG
 *   connect-exit FILE  connect, never take a name, write the time, exit 0
 *   hang               sleep (never connects)
 *
 * The times let the test measure how long after its cause the bus answered.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "busclient.h"

extern char **environ;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void stamp(const char *path) {
        char buf[32];
        int fd, n;

        n = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)now_usec());
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, buf, (size_t)n) != n)
                _exit(99);
        close(fd);
}

static int method_echo(bus_message *call, void *userdata, json_t **ret_reply, bus_error *ret_error) {
        json_t *env = json_array();

        for (char **e = environ; *e; e++)
                json_array_append_new(env, json_string(*e));
        struct rlimit rl = { 0 };

        (void)getrlimit(RLIMIT_NOFILE, &rl);
        *ret_reply = json_pack("{s:O?,s:I,s:o,s:I}", "args", bus_message_get_body(call), "pid",
                               (json_int_t)getpid(), "env", env, "nofile_soft",
                               (json_int_t)rl.rlim_cur);
        return *ret_reply ? 0 : -ENOMEM;
}

static const bus_method act_methods[] = {
        { "Echo", method_echo },
        { NULL, NULL },
};

static int serve(int argc, char **argv) {
        const char *stamp_path = NULL;
        bus_connection *bus;
        bus_slot *object = NULL;
        bus_error error = BUS_ERROR_INIT;
        long delay_ms = 0;
        int i = 0, r;

        while (i < argc && strncmp(argv[i], "--", 2) == 0 && i + 1 < argc) {
                if (strcmp(argv[i], "--delay-ms") == 0)
                        delay_ms = strtol(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--stamp") == 0)
                        stamp_path = argv[i + 1];
                i += 2;
        }
        r = bus_connect(&bus, NULL);
        if (r < 0) {
                fprintf(stderr, "activation-service: connect: %s\n", strerror(-r));
                return 2;
        }
        r = bus_add_object(bus, &object, "/org/example/Act", "org.example.Act", act_methods, NULL);
        if (r < 0)
                return 3;
        if (delay_ms > 0) {
                struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
                nanosleep(&ts, NULL);
        }
        for (; i < argc; i++) {
                if (stamp_path) {
                        stamp(stamp_path);
                        stamp_path = NULL;
                }
                r = bus_request_name(bus, argv[i], BUS_NAME_DO_NOT_QUEUE, &error);
                if (r != BUS_NAME_PRIMARY_OWNER) {
                        fprintf(stderr, "activation-service: cannot own %s: %s\n", argv[i],
                                r < 0 ? (error.name ? error.name : strerror(-r)) : "taken");
                        return 4;
                }
        }
        for (;;) {
                r = bus_connection_wait(bus, UINT64_MAX);
                if (r >= 0)
                        r = bus_connection_process(bus);
                if (r < 0)
                        break;
        }
        bus_connection_close(bus);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && strcmp(argv[1], "serve") == 0)
                return serve(argc - 2, argv + 2);
        if (argc == 4 && strcmp(argv[1], "exit") == 0) {
                stamp(argv[3]);
                _exit(atoi(argv[2]));
        }
        if (argc == 4 && strcmp(argv[1], "signal") == 0) {
                stamp(argv[3]);
                signal(atoi(argv[2]), SIG_DFL);
                raise(atoi(argv[2]));
                _exit(98);
        }
        if (argc == 3 && strcmp(argv[1], "connect-exit") == 0) {
                bus_connection *bus;

                if (bus_connect(&bus, NULL) < 0)
                        return 2;
                stamp(argv[2]);
                _exit(0);
        }
        if (argc == 2 && strcmp(argv[1], "hang") == 0) {
                for (;;)
                        pause();
        }
        fprintf(stderr, "activation-service: unknown mode\n");
        return 64;
}
