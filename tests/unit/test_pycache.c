// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for pycache: which bytecode names are redirected, and where. */
#include "unit.h"
#include "pycache.h"

#include <errno.h>
#include <string.h>

static void test_classify(void)
{
	/* What CPython 3 writes. */
	CHECK(pycache_classify("json", "__pycache__", 0) == PYCACHE_DIR);
	CHECK(pycache_classify("__pycache__", "decoder.cpython-311.pyc", 0) == PYCACHE_FILE);
	CHECK(pycache_classify("__pycache__", "decoder.cpython-311.opt-1.pyc", 0) == PYCACHE_FILE);
	CHECK(pycache_classify("__pycache__", "decoder.cpython-311.pyc.140234567890", 0) == PYCACHE_FILE);
	CHECK(pycache_classify("__pycache__", "x.pyc", 0) == PYCACHE_FILE);
	/* Anything else stays read-only. */
	CHECK(pycache_classify("__pycache__", "__pycache__", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "decoder.py", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", ".pyc", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "x.pyc.", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "x.pyc.12a", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", ".pyc.123", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "x.pyo", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "x.txt.123", 0) == PYCACHE_NO);
	CHECK(pycache_classify("json", "decoder.pyc", 0) == PYCACHE_NO);       /* not beside it on 3.x */
	CHECK(pycache_classify("json", "evil.so", 0) == PYCACHE_NO);
	CHECK(pycache_classify("json", "", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "../x.pyc", 0) == PYCACHE_NO);
	CHECK(pycache_classify("__pycache__", "..", 0) == PYCACHE_NO);
	/* Python 2: beside the source, no temporary. */
	CHECK(pycache_classify("json", "decoder.pyc", 1) == PYCACHE_FILE);
	CHECK(pycache_classify("json", "decoder.pyo", 1) == PYCACHE_FILE);
	CHECK(pycache_classify("json", "decoder.py", 1) == PYCACHE_NO);
	CHECK(pycache_classify("json", "decoder.pyc.123", 1) == PYCACHE_NO);
}

static void test_paths(void)
{
	char id[64], out[256];
	CHECK(pycache_source_id(1, "/usr", id, sizeof id) == 0);
	CHECK(strncmp(id, "base-", 5) == 0 && strlen(id) == 21);
	char id2[64];
	CHECK(pycache_source_id(0, "/shared/layers/sci", id2, sizeof id2) == 0);
	CHECK(strncmp(id2, "layer-", 6) == 0 && strlen(id2) == 22);
	char id3[64];
	CHECK(pycache_source_id(0, "/shared/layers/tools", id3, sizeof id3) == 0);
	CHECK(strcmp(id2, id3) != 0);
	CHECK(pycache_source_id(0, "/x", id3, 10) == -ENAMETOOLONG);

	CHECK(pycache_area_path(id, "lib/python3.11/json/__pycache__", out, sizeof out) == 0);
	char want[256];
	snprintf(want, sizeof want, ".pyenvfs/pycache/%s/lib/python3.11/json/__pycache__", id);
	CHECK_STR(out, want);
	CHECK(pycache_area_path(id2, "", out, sizeof out) == 0);
	snprintf(want, sizeof want, ".pyenvfs/pycache/%s", id2);
	CHECK_STR(out, want);
	CHECK(pycache_area_path(id, "a/../b", out, sizeof out) == -EINVAL);
	CHECK(pycache_area_path(id, "/abs", out, sizeof out) == -EINVAL);
	CHECK(pycache_area_path("base-xyz", "a", out, sizeof out) == -EINVAL);
	CHECK(pycache_area_path("../base-0123456789abcdef", "a", out, sizeof out) == -EINVAL);
	CHECK(pycache_area_path("other-0123456789abcdef", "a", out, sizeof out) == -EINVAL);
	CHECK(pycache_area_path(id, "a", out, 20) == -ENAMETOOLONG);
}

int main(void)
{
	test_classify();
	test_paths();
	return UNIT_DONE();
}
