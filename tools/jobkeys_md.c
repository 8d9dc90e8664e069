/* jobkeys_md.c - prints the job-file key reference from KP_JOB_KEYS, the one
 * table the parser uses, so that no reference can drift from the parser:
 *
 *   jobkeys_md           the Markdown table README.md embeds (checked by the
 *                        test readme.jobfile_reference_matches_key_table)
 *   jobkeys_md --man     the man page kpool.ini(5), in roff (made by the build)
 *   jobkeys_md --keys    every key as section.key, one per line (for tests) */
#include "jobfile.h"

#include <kpool/kpool.h>

#include <stdio.h>
#include <string.h>

/* Writes text for roff: a backslash is doubled as \e, every '-' becomes \-
 * (the values "-" and "1-D" must come out as typed, and a plain '-' may be
 * printed as a hyphen), and a line never starts with a control character. */
static void put_roff(FILE *out, const char *text)
{
    if (text[0] == '.' || text[0] == '\'')
        fputs("\\&", out);
    for (const char *p = text; *p; p++) {
        if (*p == '\\')
            fputs("\\e", out);
        else if (*p == '-')
            fputs("\\-", out);
        else
            fputc(*p, out);
    }
}

/* The values a key takes, as a sentence ending without a period. Every type
 * has a case and there is no default, so that a new type in jobfile.h fails
 * this build (-Wswitch) until the man page can describe it. */
static void put_value_sentence(FILE *out, const kp_job_key *k)
{
    switch (k->type) {
    case KP_KEY_STRING:
        fputs("text", out);
        return;
    case KP_KEY_PATH:
        fputs("a path, relative to the job file's folder", out);
        return;
    case KP_KEY_PLUGIN:
        fputs("a path, relative to the job file's folder, or a bare file name (no \\fB/\\fR) "
              "that the dynamic loader looks up",
              out);
        return;
    case KP_KEY_ENUM:
        fputs("one of ", out);
        for (const char *c = k->choices; *c;) {
            size_t len = strcspn(c, "|");
            const char *next = c[len] == '|' ? c + len + 1 : c + len;
            fprintf(out, "%s\\fB%.*s\\fR",
                    c == k->choices ? ""
                    : *next         ? ", "
                                    : " or ",
                    (int)len, c);
            c = next;
        }
        return;
    case KP_KEY_COUNT:
        fputs("an integer >= 0", out);
        return;
    case KP_KEY_AUTO_COUNT:
        fputs("\\fBauto\\fR or an integer >= 1", out);
        return;
    case KP_KEY_SECONDS:
        fputs("seconds >= 0, fractions allowed", out);
        return;
    case KP_KEY_BOOL:
        fputs("\\fBtrue\\fR or \\fBfalse\\fR (also \\fByes\\fR/\\fBno\\fR, \\fBon\\fR/\\fBoff\\fR, "
              "\\fB1\\fR/\\fB0\\fR)",
              out);
        return;
    case KP_KEY_RANGE:
        fputs("\\fIstart\\fB:\\fIstop\\fR[\\fB:\\fIstep\\fR], integers, \\fIstep\\fR not 0", out);
        return;
    case KP_KEY_HALT:
        fputs("\\fBcontinue\\fR, \\fBstop\\fR, \\fBsoon,fail=\\fIN\\fR, "
              "\\fBsoon,fail=\\fIP\\fB%\\fR, "
              "\\fBnow,fail=\\fIN\\fR or \\fBnow,fail=\\fIP\\fB%\\fR",
              out);
        return;
    }
}

/* The keys the validation requires; the same two that jobfile.c's reference
 * marks "(required)". Their documentation says "Required." as well. */
static int key_is_required(size_t id)
{
    return id == KP_KEY_job_plugin || id == KP_KEY_job_kernel;
}

static const char man_head[] =
    ".TH KPOOL.INI 5 \"\" \"kpool " KPOOL_VERSION_STRING "\" \"File Formats\"\n"
    /* Keys and values must not be hyphenated across lines. */
    ".nh\n"
    ".ad l\n"
    ".SH NAME\n"
    "kpool.ini \\- job files of kpool\n"
    ".SH SYNOPSIS\n"
    ".nf\n"
    "[job]\n"
    "plugin = \\fIPLUGIN.so\\fR\n"
    "kernel = \\fINAME\\fR\n"
    "\\&...\n"
    "[input]\n"
    "path = \\fIINPUT\\fR.npy | .csv | .jsonl | \\-\n"
    "\\&...\n"
    "[pool]\n"
    "\\&...\n"
    "[output]\n"
    "\\&...\n"
    ".fi\n"
    ".PP\n"
    ".B kpool run\n"
    ".I JOB.ini\n"
    "[\\fB\\-\\-set\\fR \\fISECTION.KEY\\fB=\\fIVALUE\\fR]...\n"
    ".SH DESCRIPTION\n"
    "A job file tells\n"
    ".BR kpool (1)\n"
    "which compiled C function (a \\fIkernel\\fR) to run, over which input records, on\n"
    "how many worker processes, and where the results go. It is an INI file, read\n"
    "with inih: \\fB[section]\\fR headers, \\fIkey\\fR \\fB=\\fR \\fIvalue\\fR lines, and\n"
    "comments that start with \\fB;\\fR or \\fB#\\fR at the start of a line or with\n"
    "\\fB;\\fR after a value.\n"
    ".PP\n"
    "There are four sections:\n"
    ".B [job]\n"
    "(the plugin, the kernel and the argument tuple of each task),\n"
    ".B [input]\n"
    "(the records: each record becomes one task),\n"
    ".B [pool]\n"
    "(workers, chunking, limits and what failures do) and\n"
    ".B [output]\n"
    "(where and how results and failures are written).\n"
    "Only \\fBjob.plugin\\fR and \\fBjob.kernel\\fR are required; every other key has\n"
    "the default listed below.\n"
    ".PP\n"
    "An unknown section or key, a bad value, or a missing required key stops kpool\n"
    "before any task runs, with a message of the form\n"
    "\\fIFILE\\fB:\\fILINE\\fB: [\\fIsection\\fB] \\fIkey\\fB: \\fRwhat is wrong\n"
    "(and a suggestion when a key name looks like a typo); the exit status is 2.\n"
    ".SS Paths\n"
    "Every path in a job file is relative to the folder of the job file, not to the\n"
    "current directory, so a job runs the same from anywhere. A\n"
    ".B plugin\n"
    "without a \\fB/\\fR is a library name the dynamic loader looks up\n"
    "(\\fBlibm.so.6\\fR); write \\fB./libx.so\\fR for a file beside the job file. The path\n"
    ".B \\-\n"
    "means stdin for \\fBinput.path\\fR and stdout or stderr for \\fBoutput.path\\fR\n"
    "and \\fBoutput.errors\\fR.\n"
    ".SS Overriding keys\n"
    "Every key can be overridden on the command line with\n"
    "\\fB\\-\\-set\\fR \\fIsection\\fB.\\fIkey\\fB=\\fIvalue\\fR (repeatable, applied in\n"
    "order after the file is read); \\fB\\-j\\fR \\fIN\\fR is \\fB\\-\\-set "
    "pool.workers=\\fIN\\fR\n"
    "and \\fB\\-o\\fR \\fIPATH\\fR is \\fB\\-\\-set output.path=\\fIPATH\\fR. Paths given\n"
    "on the command line are relative to the current directory.\n"
    ".SS Records and argument tuples\n"
    "Each input record is a value \\fB$0\\fR with elements \\fB$1\\fR ... \\fB$\\fIN\\fR:\n"
    "an \\fB.npy\\fR row (\\fB$0\\fR the row as an array, \\fB$1\\fR... its numbers) or\n"
    "number, a \\fB.csv\\fR line (its fields), a \\fB.jsonl\\fR line (the JSON value, and\n"
    "its elements when it is an array), or a \\fBrange\\fR integer.\n"
    "\\fBjob.args\\fR is the tuple each task passes to the kernel: \\fB$0\\fR, \\fB$\\fIK\\fR,\n"
    "\\fB$*\\fR (all elements spread) and literals (\\fB4\\fR, \\fB\\-2.5\\fR, \\fB\"text\"\\fR,\n"
    "\\fB[1, 2, 3]\\fR, \\fBtrue\\fR). A value that does not fit its parameter's C type\n"
    "fails that task only, as \\fBbad\\-input\\fR.\n"
    ".SH KEYS\n"
    "Generated from the table of keys the parser itself uses.\n";

static const char man_tail[] =
    ".SH EXAMPLES\n"
    "The seed's job, \\fBconfig/seed.ini\\fR: Python's\n"
    "\\fBpool.starmap(howmany_within_range, [(row, 4, 8) for row in data])\\fR\n"
    "over the rows of an \\fB.npy\\fR file, with results in input order on stdout.\n"
    ".PP\n"
    ".RS 4\n"
    ".nf\n"
    "[job]\n"
    "plugin  = ../plugins/libseed.so   ; relative to this file\n"
    "kernel  = howmany_within_range    ; i64 (i64[] row, i64 minimum, i64 maximum)\n"
    "mode    = starmap\n"
    "args    = $0, 4, 8                ; the tuple of each task: (row, 4, 8)\n"
    "\n"
    "[input]\n"
    "path    = ../data/seed.npy        ; each row is one task\n"
    "\n"
    "[pool]\n"
    "workers = auto                    ; the CPUs this process may use\n"
    "\n"
    "[output]\n"
    "path    = \\-                       ; stdout\n"
    "format  = csv                     ; one line per task: its count\n"
    ".fi\n"
    ".RE\n"
    ".PP\n"
    "Run it with 8 workers, results into a file:\n"
    ".PP\n"
    ".RS 4\n"
    ".nf\n"
    "kpool run config/seed.ini \\-j 8 \\-o results.csv\n"
    ".fi\n"
    ".RE\n"
    ".PP\n"
    "A function of a library that knows nothing of kpool needs its signature:\n"
    ".PP\n"
    ".RS 4\n"
    ".nf\n"
    "[job]\n"
    "plugin    = libm.so.6\n"
    "kernel    = pow\n"
    "signature = double pow(double x, double y)\n"
    "args      = $0, 0.5\n"
    "[input]\n"
    "range     = 0:10\n"
    ".fi\n"
    ".RE\n"
    ".SH SEE ALSO\n"
    ".BR kpool (1);\n"
    "\\fBkpool check\\fR \\fIJOB.ini\\fR validates a job and prints what would run.\n"
    "The guides \\fIdocs/writing\\-kernels.md\\fR and \\fIdocs/from\\-python.md\\fR of\n"
    "the kpool sources.\n";

static void write_man(FILE *out)
{
    fputs(".\\\" kpool.ini.5 - generated by tools/jobkeys_md --man from KP_JOB_KEYS in\n"
          ".\\\" runtime/jobfile.h; do not edit.\n",
          out);
    fputs(man_head, out);
    const char *section = "";
    for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++) {
        const kp_job_key *k = &kp_job_keys[i];
        if (strcmp(k->section, section) != 0) {
            section = k->section;
            fprintf(out, ".SS \"[%s]\"\n", section);
        }
        fprintf(out, ".TP\n.B %s\n", k->key);
        put_roff(out, k->doc);
        fputs("\n.br\nValue: ", out);
        put_value_sentence(out, k);
        fputs(".\n.br\nDefault: ", out);
        if (key_is_required(i)) {
            fputs("none, the key is required.\n", out);
        } else if (k->def[0]) {
            fputs("\\fB", out);
            put_roff(out, k->def);
            fputs("\\fR.\n", out);
        } else {
            fputs("none.\n", out);
        }
    }
    fputs(man_tail, out);
}

int main(int argc, char **argv)
{
    if (argc > 2 ||
        (argc == 2 && strcmp(argv[1], "--man") != 0 && strcmp(argv[1], "--keys") != 0)) {
        fputs("usage: jobkeys_md [--man | --keys]\n"
              "Prints the reference of job-file keys: a Markdown table (no option), the\n"
              "man page kpool.ini(5) in roff (--man), or the keys as section.key (--keys).\n",
              stderr);
        return 2;
    }
    if (argc == 1) {
        kp_jobfile_reference(stdout);
    } else if (strcmp(argv[1], "--man") == 0) {
        write_man(stdout);
    } else {
        for (size_t i = 0; i < KP_JOB_KEY_COUNT; i++)
            printf("%s.%s\n", kp_job_keys[i].section, kp_job_keys[i].key);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("jobkeys_md: cannot write the reference");
        return 1;
    }
    return 0;
}
