/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * list.h — intrusive doubly-linked lists: the link and unlink steps every
 * daemon list (name queues, owners' names, match buckets, monitors) shares.
 * Header-only; no allocation, no state.
 *
 * An element is on list F through its two pointers F_prev and F_next (so
 * one element can be on several lists, one pair of pointers per list). A
 * list is its head pointer, NULL when empty, and optionally a tail pointer;
 * the operations on a list with a tail keep it up to date. The list's owner
 * keeps any element count itself.
 *
 * Invariants: head->F_prev and tail->F_next are NULL; an unlinked element
 * has both pointers NULL. Arguments are evaluated once, except @head and
 * @tail, which must be plain lvalues.
 */
#pragma once

#include <stddef.h>

/* Put @item first on list @f headed by @head. */
#define LIST_PREPEND(f, head, item)                                  \
        do {                                                         \
                __typeof__(item) list_item_ = (item);                \
                list_item_->f##_prev = NULL;                         \
                list_item_->f##_next = (head);                       \
                if (list_item_->f##_next)                            \
                        list_item_->f##_next->f##_prev = list_item_; \
                (head) = list_item_;                                 \
        } while (0)

/* Take @item off list @f headed by @head (a list without a tail). */
#define LIST_REMOVE(f, head, item)                                             \
        do {                                                                   \
                __typeof__(item) list_item_ = (item);                          \
                if (list_item_->f##_prev)                                      \
                        list_item_->f##_prev->f##_next = list_item_->f##_next; \
                else                                                           \
                        (head) = list_item_->f##_next;                         \
                if (list_item_->f##_next)                                      \
                        list_item_->f##_next->f##_prev = list_item_->f##_prev; \
                list_item_->f##_prev = list_item_->f##_next = NULL;            \
        } while (0)

/* Take @item off list @f with @head and @tail. */
#define LIST_REMOVE_TAILED(f, head, tail, item)          \
        do {                                             \
                __typeof__(item) list_item_t_ = (item);  \
                if (!list_item_t_->f##_next)             \
                        (tail) = list_item_t_->f##_prev; \
                LIST_REMOVE(f, head, list_item_t_);      \
        } while (0)

/* Put @item on list @f with @head and @tail right after @after, or first if
 * @after is NULL. */
#define LIST_INSERT_AFTER(f, head, tail, after, item)                                \
        do {                                                                         \
                __typeof__(item) list_item_ = (item), list_after_ = (after);         \
                list_item_->f##_prev = list_after_;                                  \
                list_item_->f##_next = list_after_ ? list_after_->f##_next : (head); \
                if (list_item_->f##_next)                                            \
                        list_item_->f##_next->f##_prev = list_item_;                 \
                else                                                                 \
                        (tail) = list_item_;                                         \
                if (list_after_)                                                     \
                        list_after_->f##_next = list_item_;                          \
                else                                                                 \
                        (head) = list_item_;                                         \
        } while (0)

/* Put @item last on list @f with @head and @tail. */
#define LIST_APPEND(f, head, tail, item) LIST_INSERT_AFTER(f, head, tail, tail, item)
