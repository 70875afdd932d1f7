/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files a policy names for its plugins (trust anchors, CRLs), read by the
 * core on a plugin's behalf (plugin.h: read_file, list_dir, file_stamp).
 * Plugins never open files themselves; this is the one place that decides
 * which files they may see: an absolute path without "..", a regular file
 * (a symbolic link is followed and its target checked), owned by root or
 * the daemon's user and not group- or world-writable. A trust anchor anyone
 * could rewrite would let anyone mint client certificates.
 */
#ifndef LATCHKEY_POLICY_FILES_PRIVATE_H
#define LATCHKEY_POLICY_FILES_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "error-private.h"

#define LK_POLICY_FILE_MAX (16u * 1024 * 1024)
#define LK_POLICY_DIR_MAX  1024

/* Reads the whole file (at most max_size bytes, itself at most
 * LK_POLICY_FILE_MAX) into a malloc'd buffer; *ret_stamp as
 * lk_policy_file_stamp. LK_EINVAL names the rule the path broke. */
int lk_policy_file_read(const char *path, size_t max_size, unsigned char **ret_data,
                        size_t *ret_len, uint64_t *ret_stamp, struct lk_err *err);

/* A number that changes when the file is replaced, written or its mode
 * changed (links followed). Cheap, asked every request: the file's own
 * checks only; lk_policy_file_read walks the directories above it. */
int lk_policy_file_stamp(const char *path, uint64_t *ret_stamp, struct lk_err *err);

/* The names of the regular files in a directory, sorted, at most
 * LK_POLICY_DIR_MAX; free with lk_policy_dir_free. */
int lk_policy_dir_list(const char *path, char ***ret_names, size_t *ret_n, struct lk_err *err);
void lk_policy_dir_free(char **names, size_t n);

#endif
