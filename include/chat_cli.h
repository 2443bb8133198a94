/* chat_cli.h — `flashgen chat`, the interactive chat through the model's chat template
 * (engine/chat_cli.c, prefix chat_). */
#ifndef CHAT_CLI_H
#define CHAT_CLI_H

/* `flashgen chat` subcommand: argv[0] is "chat". Returns a process exit code. */
int chat_cli_main(int argc, char **argv);

#endif
