/* hf_cache.h — the Hugging Face hub cache layout (prefix hfc_).
 *
 * huggingface_hub stores a model repository ORG/NAME as
 *     HUB/models--ORG--NAME/blobs/<hash>                 the file contents
 *     HUB/models--ORG--NAME/refs/main                    the revision of the main branch
 *     HUB/models--ORG--NAME/snapshots/<rev>/<file>       -> ../../blobs/<hash> (symlinks)
 * where HUB is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 * else ~/.cache/huggingface/hub (as huggingface_hub resolves it). flashfs and flashgen
 * accept a snapshot directory, the repository directory (its refs/main snapshot) and
 * ORG/NAME (looked up in HUB) as the model folder. */
#ifndef HF_CACHE_H
#define HF_CACHE_H

#include <stddef.h>

/* For a canonical absolute path (a realpath): when it is a snapshot of a cache repository,
 * ".../models--X/snapshots/REV", the length of its repository prefix ".../models--X";
 * else 0. Pure string check. */
size_t hfc_snapshot_repo_len(const char *real);

/* The hub cache directory from the environment (see above) into out. 0 or -ENAMETOOLONG
 * / -ENOENT (no HOME). */
int hfc_hub_dir(char *out, size_t outlen);

/* Resolve a model-folder argument:
 *   - an existing directory named models--* that has a snapshots/ subdirectory (a cache
 *     repository): its snapshot named by refs/main; -ENOENT with a reason in err when
 *     refs/main is missing or names no snapshot;
 *   - any other existing path: itself;
 *   - "ORG/NAME" that is not an existing path: HUB/models--ORG--NAME resolved as above
 *     (-ENOENT with a reason when that repository is absent);
 *   - anything else: itself (the caller reports it missing).
 * 0 with *out malloc'd, and a one-line description of the resolution in note (empty when
 * the argument is used as is); or -errno with a reason in err. */
int hfc_resolve(const char *arg, char **out, char *note, size_t notelen, char *err, size_t errlen);

#endif
