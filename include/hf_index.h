/* hf_index.h — the sharded-checkpoint index model.safetensors.index.json (prefix hi_).
 * {"metadata": {"total_size": N}, "weight_map": {"tensor name": "shard file", ...}} */
#ifndef HF_INDEX_H
#define HF_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *tensor;
    size_t file;                /* index into files[] */
} hi_entry_t;

typedef struct {
    size_t n_entries;
    hi_entry_t *entries;        /* in the order of the JSON */
    size_t n_files;
    char **files;               /* distinct shard names, in first-seen order; plain names,
                                   never absolute and never containing "..": rejected */
    uint64_t total_size;        /* metadata.total_size, 0 if absent */
} hi_index_t;

/* Parse the index JSON text. 0 or -EINVAL (err says why). */
int hi_parse(const char *json, size_t len, hi_index_t *out, char *err, size_t errlen);

/* Read and parse an index file. */
int hi_load(const char *path, hi_index_t *out, char *err, size_t errlen);

/* Shard file name for a tensor, or NULL. */
const char *hi_file_for(const hi_index_t *ix, const char *tensor);

/* Release what hi_parse allocated. */
void hi_free(hi_index_t *ix);

#endif
