// SPDX-License-Identifier: GPL-2.0-or-later
/* What the layout probe prints, verbatim, on these machines: Debian's
 * python3.11 and pyenv's 3.6 and 2.7. Shared by the unit tests. */
#ifndef PYENVFS_TEST_SAMPLES_H
#define PYENVFS_TEST_SAMPLES_H

static const char debian311[] =
	"version=3.11.2\n"
	"stdlib=lib/python3.11\n"
	"stdlib=lib/python3.11\n"
	"include=include/python3.11\n"
	"include=include/python3.11\n"
	"site=lib/python3.11/site-packages\n"
	"site=lib/python3.11/site-packages\n"
	"scripts=bin\n"
	"stdlib=lib/python3.11\n"
	"stdlib=lib/python3.11\n"
	"include=include/python3.11\n"
	"include=include/python3.11\n"
	"site=local/lib/python3.11/dist-packages\n"
	"site=local/lib/python3.11/dist-packages\n"
	"scripts=local/bin\n"
	"syssite=local/lib/python3.11/dist-packages\n"
	"syssite=lib/python3/dist-packages\n"
	"syssite=lib/python3.11/dist-packages\n"
	"libdir=lib/x86_64-linux-gnu\n";

static const char pyenv36[] =
	"version=3.6.15\n"
	"stdlib=lib/python3.6\n"
	"stdlib=lib/python3.6\n"
	"include=include/python3.6m\n"
	"include=include/python3.6m\n"
	"site=lib/python3.6/site-packages\n"
	"site=lib/python3.6/site-packages\n"
	"scripts=bin\n"
	"syssite=lib/python3.6/site-packages\n"
	"libdir=lib\n";

static const char pyenv27[] =
	"version=2.7.18\n"
	"stdlib=lib/python2.7\n"
	"stdlib=lib/python2.7\n"
	"include=include/python2.7\n"
	"include=include/python2.7\n"
	"site=lib/python2.7/site-packages\n"
	"site=lib/python2.7/site-packages\n"
	"scripts=bin\n"
	"libdir=lib\n";

#endif
