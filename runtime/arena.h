/* arena.h - a bump allocator for the memory of one task.
 *
 * Record values, converted arguments and array buffers of a task live in an
 * arena that is reset after the task; nothing in it is freed one by one. */
#ifndef KP_ARENA_H
#define KP_ARENA_H

#include <stddef.h>

typedef struct kp_arena_block kp_arena_block;

typedef struct kp_arena {
    kp_arena_block *head; /* newest block first */
    size_t used;          /* bytes used in head */
} kp_arena;

/* Initialises an empty arena (no allocation yet). */
void kp_arena_init(kp_arena *a);

/* Returns `size` bytes aligned for any type, or NULL when memory runs out.
 * Valid until kp_arena_reset or kp_arena_free. */
void *kp_arena_alloc(kp_arena *a, size_t size);

/* Copies `len` bytes of `s` and a NUL into the arena; NULL on no memory. */
char *kp_arena_strndup(kp_arena *a, const char *s, size_t len);

/* Forgets every allocation but keeps the first block for reuse. */
void kp_arena_reset(kp_arena *a);

/* Frees all memory; the arena may be used again after kp_arena_init. */
void kp_arena_free(kp_arena *a);

#endif
