// SPDX-License-Identifier: GPL-2.0-or-later
/* The subcommands: pyenvfs run, pyenvfs list, pyenvfs umount. Each takes
 * argv from its own name on and returns the process's exit status. */
#ifndef PYENVFS_RUN_H
#define PYENVFS_RUN_H

int run_main(int argc, char **argv);
int list_main(int argc, char **argv);
int umount_main(int argc, char **argv);

/* The mount itself (main.c): what `pyenvfs BASE M --site DIR` does. pyenvfs
 * run calls it in its forked daemon, sparing an exec. */
int mount_main(int argc, char **argv);

#endif
