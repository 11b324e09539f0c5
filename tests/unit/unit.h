// SPDX-License-Identifier: GPL-2.0-or-later
/* A tiny assertion helper for the C unit tests.
 *
 *   CHECK(cond)          counts a pass, or prints file:line and the expression
 *                        and counts a failure;
 *   CHECK_STR(a, b)      strcmp(a, b) == 0, printing both strings on failure
 *                        (NULL-safe);
 *   KNOWN_BUG(cond)      cond is what the code should do but does not yet: it
 *                        prints a note and counts neither a pass nor a failure;
 *                        once the bug is fixed it says so (turn it into CHECK);
 *   UNIT_DONE()          prints "N passed, M failed" and is main's return value
 *                        (non-zero if anything failed).
 */
#ifndef PYENVFS_UNIT_H
#define PYENVFS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed, unit_known;

#define CHECK(cond)                                                             \
	do {                                                                    \
		if (cond) {                                                     \
			unit_passed++;                                          \
		} else {                                                        \
			unit_failed++;                                          \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, \
				#cond);                                         \
		}                                                               \
	} while (0)

#define CHECK_STR(a, b)                                                         \
	do {                                                                    \
		const char *unit_a_ = (a), *unit_b_ = (b);                      \
		if (unit_a_ && unit_b_ && strcmp(unit_a_, unit_b_) == 0) {      \
			unit_passed++;                                          \
		} else {                                                        \
			unit_failed++;                                          \
			fprintf(stderr, "%s:%d: FAILED: %s == %s (\"%s\" vs \"%s\")\n", \
				__FILE__, __LINE__, #a, #b,                     \
				unit_a_ ? unit_a_ : "(null)",                   \
				unit_b_ ? unit_b_ : "(null)");                  \
		}                                                               \
	} while (0)

#define KNOWN_BUG(cond)                                                         \
	do {                                                                    \
		if (cond) {                                                     \
			unit_passed++;                                          \
			fprintf(stderr, "%s:%d: known bug FIXED (make it a CHECK): %s\n", \
				__FILE__, __LINE__, #cond);                     \
		} else {                                                        \
			unit_known++;                                           \
			fprintf(stderr, "%s:%d: KNOWN BUG: expected %s\n",      \
				__FILE__, __LINE__, #cond);                     \
		}                                                               \
	} while (0)

/* An error message from pe_err: "pyenvfs: ..." on one line. */
#define CHECK_ERRMSG(err)                                                       \
	do {                                                                    \
		CHECK(strncmp((err), "pyenvfs: ", 9) == 0);                     \
		CHECK(strlen(err) > 9);                                         \
		CHECK(strchr((err), '\n') == NULL);                             \
	} while (0)

#define UNIT_DONE()                                                             \
	(unit_known ? printf("%d known bug(s) not counted\n", unit_known) : 0,  \
	 printf("%d passed, %d failed\n", unit_passed, unit_failed),            \
	 unit_failed ? 1 : 0)

#endif
