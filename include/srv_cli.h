/* srv_cli.h — `flashgen serve`, the OpenAI-compatible HTTP server (engine/srv_*.c, prefix srv_). */
#ifndef SRV_CLI_H
#define SRV_CLI_H

/* `flashgen serve` subcommand: argv[0] is "serve". Returns a process exit code. */
int srv_cli_main(int argc, char **argv);

#endif
