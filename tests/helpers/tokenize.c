/* tokenize.c — stand-alone driver of the `flashgen tokenize` subcommand (tk_cli_main),
 * so the tokenizer CLI can be used and tested without the engine:
 *   build/tests/tokenize -m MODEL_DIR [--special] [--tokens] [--decode] [TEXT|IDS...] */
#include "tokenizer.h"

int main(int argc, char **argv)
{
    argv[0] = "tokenize";
    return tk_cli_main(argc, argv);
}
