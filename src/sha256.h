// SPDX-License-Identifier: GPL-2.0-or-later
/* SHA-256 (FIPS 180-4), for the store's keys: a wheel is known by the
 * sha256 of its bytes, as lock files (pylock.toml, requirements --hash) and
 * package indexes name it. Pure; written from the standard. */
#ifndef PYENVFS_SHA256_H
#define PYENVFS_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;           /* bytes fed so far */
	uint8_t buf[64];
	size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t n);
void sha256_final(struct sha256 *s, uint8_t out[32]);

/* The digest of data as 64 lower-case hex digits and a NUL. */
void sha256_hex(const void *data, size_t n, char out[65]);
void sha256_tohex(const uint8_t digest[32], char out[65]);

/* sha256 of the file behind fd, read from where it is to the end: 0 with
 * out set, or -errno. */
int sha256_fd(int fd, char out[65]);

#endif
