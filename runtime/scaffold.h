/* scaffold.h - `kpool new NAME [DIR]`: writes a ready-to-build plugin project.
 *
 * The project is what a plugin author starts from: NAME.c (a documented
 * kernel named NAME, declared with KPOOL_KERNEL_TYPED), CMakeLists.txt
 * (find_package(kpool) + kpool_add_plugin), NAME.ini (a job that runs the
 * kernel over the sample input), input.csv and README.md. It builds against
 * an installed kpool (cmake --install) into DIR/build/libNAME.so, which is
 * where NAME.ini looks for it.
 *
 * This is part of the kpool binary, not of libkpool: no embedding program
 * needs it. The unit tests reach it through kpool_static. */
#ifndef KP_SCAFFOLD_H
#define KP_SCAFFOLD_H

#include "error.h"

#include <stdio.h>

/* The longest NAME accepted: it becomes a C identifier, a CMake target and
 * part of file names. */
#define KP_SCAFFOLD_NAME_MAX 64

/* Checks that `name` can name a plugin: a C identifier of at most
 * KP_SCAFFOLD_NAME_MAX characters that is not a C keyword or a type of
 * plugin.h, does not start with `_` or the reserved `kpool_`/`KPOOL_`
 * prefixes, and is not a target name CMake reserves ("test", "install").
 * Returns 0, or KPOOL_EINVAL with a sentence in *err saying why not. */
int kp_scaffold_check_name(const char *name, kp_err *err);

/* Writes the project `name` into the folder `dir` (NULL: "./name" as
 * `name`). `dir` may exist if it is an empty folder; otherwise it is created
 * (its parent must exist). Files are created exclusively, so nothing that
 * exists is ever overwritten. On success writes to `report` (may be NULL)
 * the files written and the commands that build and run the project, and
 * returns 0. Errors, with a sentence in *err naming the path:
 *   KPOOL_EINVAL  a bad name (see kp_scaffold_check_name), or `dir` exists
 *                 and is not an empty folder; nothing was written.
 *   KPOOL_EIO     a folder or file could not be created or written; what
 *                 this call had written is removed again.
 *   KPOOL_ENOMEM  out of memory; nothing is left behind. */
int kp_scaffold_new(const char *name, const char *dir, FILE *report, kp_err *err);

#endif
