/* eng_loader.h — brings the model's big matrices into memory, resident or streamed (prefix el_).
 *
 * The model is cut into UNITS in execution order: unit l < n_layers holds the seven
 * matrices of decoder layer l (q, k, v, o, gate, up, down); unit n_layers holds the output
 * head (lm_head, or embed_tokens when tied). A unit is read with a few large preads (one per
 * run of adjacent tensors in a file) into one buffer.
 *
 * Resident units are read once at creation. The others are STREAMED through two slot
 * buffers: while the engine computes unit u from one slot, a reader thread preads the next
 * streamed unit (in cyclic execution order) into the other, so each streamed unit is re-read
 * once per forward pass and memory holds at most two of them. */
#ifndef ENG_LOADER_H
#define ENG_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "eng_hint.h"
#include "eng_weights.h"

typedef struct el_loader el_loader_t;

/* Tensors of one unit: matrix i at [i], and for an MLX-quantized one its scales at
 * [EW_NMAT + i] and biases at [2 * EW_NMAT + i] (NULL otherwise). */
#define EL_MAX_ITEMS (3 * EW_NMAT)

/* Create a loader over m (which must outlive it). stream == 0: every unit resident.
 * stream != 0: units are made resident in execution order while their total stays within
 * resident_budget bytes; the rest stream. 0 or -errno (err names the file on read errors). */
int el_create(ew_model_t *m, int stream, uint64_t resident_budget, el_loader_t **out, char *err,
              size_t errlen);

/* Number of units (n_layers + 1) and the bytes of unit u's buffer. */
int el_n_units(const el_loader_t *L);
uint64_t el_unit_bytes(const el_loader_t *L, int u);

/* Bytes that stream() would need for its two slots: twice the largest unit. */
uint64_t el_slot_bytes(const ew_model_t *m);

/* Number of resident units, and whether unit u is resident. */
int el_n_resident(const el_loader_t *L);
int el_is_resident(const el_loader_t *L, int u);

/* Make unit u available; ptrs[i] gets the data of its i-th tensor (layer: EW_Q..EW_DOWN,
 * head: [0]; scales and biases of quantized matrices as in EL_MAX_ITEMS; NULL for none). Blocks while the unit is being read. Pair with el_release(). 0 or -errno. */
int el_acquire(el_loader_t *L, int u, const void *ptrs[EL_MAX_ITEMS], char *err, size_t errlen);

/* Done with unit u (its slot may be refilled). */
void el_release(el_loader_t *L, int u);

/* Send a hint (eng_hint.h) naming each streamed unit's layer group before its read: h
 * must outlive the loader; NULL turns hints off. */
void el_set_hint(el_loader_t *L, eh_hint_t *h);

/* Stop the reader and free every buffer (NULL-safe). */
void el_destroy(el_loader_t *L);

#endif
