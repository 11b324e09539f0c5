// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for sha256.c: the FIPS 180-4 example vectors (and NIST's long
 * messages), fed whole and in every split, and a file. */
#include "unit.h"
#include "sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_split(const char *msg, const char *want)
{
	size_t n = strlen(msg);
	char hex[65];
	sha256_hex(msg, n, hex);
	CHECK_STR(hex, want);
	/* any two pieces give the same digest */
	int ok = 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct sha256 s;
		uint8_t d[32];
		sha256_init(&s);
		sha256_update(&s, msg, cut);
		sha256_update(&s, msg + cut, n - cut);
		sha256_final(&s, d);
		sha256_tohex(d, hex);
		ok &= strcmp(hex, want) == 0;
	}
	CHECK(ok);
}

int main(void)
{
	check_split("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_split("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_split("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_split("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	/* lengths around the padding boundary: 55, 56, 63, 64 bytes */
	char buf[200];
	memset(buf, 'a', sizeof buf);
	char h55[65], h56[65], h64[65];
	sha256_hex(buf, 55, h55);
	sha256_hex(buf, 56, h56);
	sha256_hex(buf, 64, h64);
	CHECK_STR(h55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	CHECK_STR(h56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	CHECK_STR(h64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");

	/* a million 'a's, through a file */
	char path[] = "/tmp/pyenvfs-sha256-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	char *mil = malloc(1000000);
	memset(mil, 'a', 1000000);
	CHECK(write(fd, mil, 1000000) == 1000000);
	lseek(fd, 0, SEEK_SET);
	char hex[65];
	CHECK(sha256_fd(fd, hex) == 0);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	close(fd);
	unlink(path);
	free(mil);
	return UNIT_DONE();
}
