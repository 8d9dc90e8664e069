#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KP_ARENA_BLOCK 65536
#define KP_ARENA_ALIGN 16

struct kp_arena_block {
    kp_arena_block *next;
    size_t size;
    _Alignas(KP_ARENA_ALIGN) unsigned char data[];
};

void kp_arena_init(kp_arena *a)
{
    a->head = NULL;
    a->used = 0;
}

void *kp_arena_alloc(kp_arena *a, size_t size)
{
    size_t need = (size + KP_ARENA_ALIGN - 1) & ~(size_t)(KP_ARENA_ALIGN - 1);
    if (need < size)
        return NULL;
    if (need == 0)
        need = KP_ARENA_ALIGN;
    if (!a->head || a->head->size - a->used < need) {
        size_t bsize = need > KP_ARENA_BLOCK ? need : KP_ARENA_BLOCK;
        if (bsize > SIZE_MAX - sizeof(kp_arena_block))
            return NULL;
        kp_arena_block *b = malloc(sizeof *b + bsize);
        if (!b)
            return NULL;
        b->size = bsize;
        b->next = a->head;
        a->head = b;
        a->used = 0;
    }
    void *p = a->head->data + a->used;
    a->used += need;
    return p;
}

char *kp_arena_strndup(kp_arena *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = kp_arena_alloc(a, len + 1);
    if (p) {
        if (len)
            memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void kp_arena_reset(kp_arena *a)
{
    if (!a->head)
        return;
    /* Keep the oldest block: it is the one every task needs. */
    kp_arena_block *b = a->head;
    while (b->next) {
        kp_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = b;
    a->used = 0;
}

void kp_arena_free(kp_arena *a)
{
    kp_arena_block *b = a->head;
    while (b) {
        kp_arena_block *next = b->next;
        free(b);
        b = next;
    }
    kp_arena_init(a);
}
