/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LATCHKEY_MIGRATIONS_PRIVATE_H
#define LATCHKEY_MIGRATIONS_PRIVATE_H

/* lk_migrations[i] takes the schema from version i to i + 1. */
extern const char *const lk_migrations[];
extern const int lk_migration_count;

#endif
