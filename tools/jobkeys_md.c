/* jobkeys_md.c - prints the job-file key reference (a Markdown table) that
 * README.md embeds, so the README can be checked against KP_JOB_KEYS. */
#include "jobfile.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fputs("usage: jobkeys_md > keys.md\n"
              "Prints the reference table of job-file keys as Markdown.\n",
              stderr);
        return 2;
    }
    kp_jobfile_reference(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("jobkeys_md: cannot write the reference");
        return 1;
    }
    return 0;
}
