/* eng_folder.h — what flashgen's -m argument is, before the model is opened (prefix ef_).
 *
 * flashgen reads Hugging Face safetensors folders and GGUF models (a *.gguf file, or a folder
 * without config.json holding exactly one). ef_resolve accepts the folder forms of the mount
 * (a Hugging Face cache repository or ORG/NAME become their refs/main snapshot, see
 * hf_cache.h); ef_probe names what a folder holds when flashgen cannot read it (several GGUF
 * files, files packed by flashfs-pack, an empty folder, no config.json), so the user gets a
 * reason rather than "config.json: cannot read". */
#ifndef ENG_FOLDER_H
#define ENG_FOLDER_H

#include <stddef.h>

/* Resolve the -m argument into *dir (malloc'd); note gets a line describing a cache
 * resolution (empty otherwise). 0 or -errno with a reason in err. */
int ef_resolve(const char *arg, char **dir, char *note, size_t notelen, char *err, size_t errlen);

/* 1 with one line in msg when dir cannot be a model flashgen reads: neither a directory nor
 * a *.gguf file, a folder without config.json holding several GGUF files, a folder whose *.safetensors / *.gguf files are packed
 * (flashfs-pack: "mount it with flashfs first"), an empty folder, or no config.json; 0
 * when nothing is known against it. */
int ef_probe(const char *dir, char *msg, size_t msglen);

#endif
