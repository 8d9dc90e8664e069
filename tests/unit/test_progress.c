/* test_progress.c - the progress line: its layout at each width, its numbers,
 * its smoothed rate, and what it writes to the stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC INT64_C(1000000000)

/* ---- helpers ------------------------------------------------------------ */

/* A run half way: 52 of 120 done, 3 failed, every worker busy. */
static kp_progress_view midrun(void)
{
    return (kp_progress_view){
        .done = 52, .total = 120, .failed = 3, .rate = 37.1, .eta = 2.0, .busy = 4, .workers = 4};
}

/* Formats v at `width` and checks what holds at every width. */
static size_t format_at(const kp_progress_view *v, size_t width, char *buf, size_t size)
{
    size_t n = kp_progress_format(v, width, buf, size);
    assert_int_equal(n, strlen(buf));
    if (n > width)
        fail_msg("width %zu: %zu characters: '%s'", width, n, buf);
    if (strpbrk(buf, "\r\n\033"))
        fail_msg("width %zu: control characters in '%s'", width, buf);
    return n;
}

static void assert_has(const char *line, const char *part)
{
    if (!strstr(line, part))
        fail_msg("'%s' lacks '%s'", line, part);
}

static void assert_lacks(const char *line, const char *part)
{
    if (strstr(line, part))
        fail_msg("'%s' has '%s'", line, part);
}

/* ---- layout ------------------------------------------------------------- */

static void test_format_width_200_has_every_part_and_the_widest_bar(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    char line[256];
    format_at(&v, 200, line, sizeof line);
    assert_int_equal(line[0], '[');
    /* 40 columns inside the brackets, 43% of them filled (17 of 40). */
    assert_int_equal(line[41], ']');
    assert_int_equal(strspn(line + 1, "#"), 17);
    assert_has(line, " 52/120");
    assert_has(line, "43%");
    assert_has(line, "37.1 tasks/s");
    assert_has(line, "ETA 0:00:02");
    assert_has(line, "3 failed");
    assert_has(line, "workers 4/4");
}

static void test_format_width_80_keeps_a_bar(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    char line[256];
    format_at(&v, 79, line, sizeof line);
    assert_int_equal(line[0], '[');
    assert_has(line, "52/120");
    assert_has(line, "tasks/s");
    assert_has(line, "ETA 0:00:02");
    assert_has(line, "3 failed");
    assert_has(line, "workers 4/4");
}

static void test_format_width_40_drops_the_bar_first(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    char line[256];
    format_at(&v, 40, line, sizeof line);
    assert_lacks(line, "[");
    /* The failures, the ETA and the count outlast the rate and the workers. */
    assert_has(line, "52/120");
    assert_has(line, "43%");
    assert_has(line, "ETA 0:00:02");
    assert_has(line, "3 failed");
    assert_lacks(line, "tasks/s");
    assert_lacks(line, "workers");
}

static void test_format_width_20_keeps_the_count(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    char line[256];
    format_at(&v, 20, line, sizeof line);
    assert_string_equal(line, " 52/120  3 failed");
    v.failed = 0;
    format_at(&v, 20, line, sizeof line);
    assert_string_equal(line, " 52/120   43%");
}

static void test_format_tiny_widths_cut_the_count(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    char line[256];
    format_at(&v, 4, line, sizeof line);
    assert_string_equal(line, " 52/");
    assert_int_equal(format_at(&v, 0, line, sizeof line), 0);
    assert_string_equal(line, "");
}

static void test_format_never_exceeds_the_width_or_the_buffer(void **state)
{
    (void)state;
    kp_progress_view views[] = {
        midrun(),
        {.done = 0, .total = 0, .rate = -1, .eta = -1, .busy = 0, .workers = 1},
        {.done = 123456789,
         .total = 987654321,
         .failed = 123456,
         .rate = 4.2e6,
         .eta = 3599999,
         .busy = 4000,
         .workers = 4096},
        {.done = SIZE_MAX - 1,
         .total = SIZE_MAX,
         .failed = SIZE_MAX,
         .rate = 1e30,
         .eta = 1e30,
         .busy = 1,
         .workers = 1},
    };
    char line[300];
    for (size_t k = 0; k < sizeof views / sizeof views[0]; k++)
        for (size_t w = 0; w <= 260; w++)
            format_at(&views[k], w, line, sizeof line);
    /* A buffer smaller than the width bounds the line as the width would. */
    char small[16];
    format_at(&views[0], 200, small, sizeof small);
    format_at(&views[0], 15, line, sizeof line);
    assert_string_equal(small, line);
}

static void test_format_zero_tasks_is_complete(void **state)
{
    (void)state;
    kp_progress_view v = {.total = 0, .done = 0, .rate = -1, .eta = 0, .busy = 0, .workers = 1};
    char line[256];
    format_at(&v, 100, line, sizeof line);
    assert_has(line, "0/0");
    assert_has(line, "100%");
    assert_has(line, "-- tasks/s");
    assert_has(line, "ETA 0:00:00");
    assert_lacks(line, ".]"); /* the bar is full */
}

static void test_format_unknown_rate_and_eta_show_dashes(void **state)
{
    (void)state;
    kp_progress_view v = {.total = 10, .rate = -1, .eta = -1, .busy = 0, .workers = 2};
    char line[256];
    format_at(&v, 100, line, sizeof line);
    assert_has(line, " 0/10");
    assert_has(line, "  0%");
    assert_has(line, "   -- tasks/s");
    assert_has(line, "ETA --");
    assert_has(line, "workers 0/2");
    assert_lacks(line, "#");
}

static void test_format_bar_is_full_only_when_every_task_is_done(void **state)
{
    (void)state;
    kp_progress_view v = {.done = 119, .total = 120, .rate = 40, .eta = 0, .workers = 4};
    char line[256];
    format_at(&v, 100, line, sizeof line);
    assert_has(line, ".]");
    assert_has(line, " 99%");
    v.done = 120;
    format_at(&v, 100, line, sizeof line);
    assert_lacks(line, ".]");
    assert_has(line, "100%");
}

static void test_format_zero_failed_gives_way_to_the_bar(void **state)
{
    (void)state;
    kp_progress_view v = midrun();
    v.failed = 0;
    char line[256];
    format_at(&v, 79, line, sizeof line);
    assert_lacks(line, "failed");
    assert_has(line, "workers 4/4");
    format_at(&v, 100, line, sizeof line);
    assert_has(line, "  0 failed  ");
}

static void test_format_columns_do_not_move_as_numbers_grow(void **state)
{
    (void)state;
    kp_progress_view start = {.total = 1000, .rate = -1, .eta = -1, .busy = 0, .workers = 16};
    kp_progress_view later = {
        .done = 999, .total = 1000, .rate = 1234.5, .eta = 3599, .busy = 16, .workers = 16};
    char a[256], b[256];
    for (size_t w = 60; w <= 200; w += 7) {
        size_t na = format_at(&start, w, a, sizeof a);
        size_t nb = format_at(&later, w, b, sizeof b);
        assert_int_equal(na, nb);
        const char *ea = strstr(a, "ETA"), *eb = strstr(b, "ETA");
        assert_true((ea == NULL) == (eb == NULL));
        if (ea)
            assert_int_equal(ea - a, eb - b);
    }
}

/* ---- numbers ------------------------------------------------------------ */

static void rate_is(double rate, const char *want)
{
    char buf[32];
    kp_progress_rate_text(rate, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("rate %g: '%s', not '%s'", rate, buf, want);
}

static void test_rate_text_has_three_digits_and_a_suffix(void **state)
{
    (void)state;
    rate_is(0, "0.00");
    rate_is(0.5, "0.50");
    rate_is(9.996, "10.0");
    rate_is(12.345, "12.3");
    rate_is(457.2, "457");
    rate_is(999.4, "999");
    rate_is(999.6, "1.00k");
    rate_is(1234, "1.23k");
    rate_is(45678, "45.7k");
    rate_is(3456789, "3.46M");
    rate_is(2.5e9, "2.50G");
    rate_is(7e12, "7.00T");
    rate_is(-1, "--");
    rate_is(NAN, "--");
    rate_is(INFINITY, "--");
}

static void duration_is(double seconds, const char *want)
{
    char buf[32];
    kp_progress_duration_text(seconds, buf, sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("duration %g: '%s', not '%s'", seconds, buf, want);
}

static void test_duration_text_is_h_mm_ss(void **state)
{
    (void)state;
    duration_is(0, "0:00:00");
    duration_is(0.4, "0:00:00");
    duration_is(7, "0:00:07");
    duration_is(59.6, "0:01:00");
    duration_is(3725, "1:02:05");
    duration_is(12 * 3600 + 34 * 60 + 56, "12:34:56");
    duration_is(999 * 3600 + 59 * 60 + 59, "999:59:59");
    duration_is(1000 * 3600, "--");
    duration_is(-1, "--");
    duration_is(NAN, "--");
    duration_is(INFINITY, "--");
}

/* ---- the smoothed rate --------------------------------------------------- */

static void test_update_rate_unknown_until_a_task_finishes(void **state)
{
    (void)state;
    kp_progress p;
    kp_progress_init(&p, NULL, 100, 0, false);
    assert_true(kp_progress_update(&p, p.start_ns + SEC / 5, 0) < 0);
    assert_true(kp_progress_update(&p, p.start_ns + SEC, 0) < 0);
    double r = kp_progress_update(&p, p.start_ns + 2 * SEC, 10);
    assert_true(fabs(r - 5.0) < 1e-9); /* 10 tasks in 2 s, since the start */
}

static void test_update_rate_is_smoothed_over_the_window(void **state)
{
    (void)state;
    kp_progress p;
    kp_progress_init(&p, NULL, 100000, 0, false);
    /* 100 tasks/s, sampled five times a second for ten seconds. */
    double r = 0;
    for (int k = 1; k <= 50; k++)
        r = kp_progress_update(&p, p.start_ns + k * SEC / 5, (size_t)(k * 20));
    assert_true(fabs(r - 100.0) < 1e-6);
    /* 200 tasks in the next 0.2 s (1000/s): the rate moves, but over the
     * 5 s window, not to 1000. */
    r = kp_progress_update(&p, p.start_ns + 51 * SEC / 5, 1000 + 200);
    assert_true(r > 130.0 && r < 150.0);
    /* And it forgets the burst once the window has passed it. */
    size_t done = 1200;
    for (int k = 52; k <= 90; k++)
        r = kp_progress_update(&p, p.start_ns + k * SEC / 5, done += 20);
    assert_true(fabs(r - 100.0) < 1e-6);
}

static void test_update_slow_tasks_use_the_average_since_the_start(void **state)
{
    (void)state;
    kp_progress p;
    kp_progress_init(&p, NULL, 100, 0, false);
    /* One task every 2 s: a 5 s window holds two or three of them. */
    double r = 0;
    for (int k = 1; k <= 100; k++)
        r = kp_progress_update(&p, p.start_ns + k * SEC / 5, (size_t)(k / 10));
    assert_true(fabs(r - 0.5) < 1e-9); /* 10 tasks in 20 s */
}

/* ---- drawing ------------------------------------------------------------- */

typedef struct sink {
    char *text;
    size_t len;
    FILE *f;
} sink;

static int sink_setup(void **state)
{
    sink *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->f = open_memstream(&s->text, &s->len);
    *state = s;
    return s->f ? 0 : -1;
}

static int sink_teardown(void **state)
{
    sink *s = *state;
    fclose(s->f);
    free(s->text);
    free(s);
    return 0;
}

static const char *sink_text(sink *s)
{
    fflush(s->f);
    return s->text;
}

static void test_tick_redraws_one_line_in_place(void **state)
{
    sink *s = *state;
    kp_progress p;
    kp_progress_init(&p, s->f, 10, 0, true);
    kp_pool_stats st = {.total = 10, .ok = 2, .failed = 1, .workers = 2};
    kp_progress_tick(&p, &st, 2);
    const char *t = sink_text(s);
    assert_int_equal(t[0], '\r');
    assert_has(t, " 3/10");
    assert_has(t, "1 failed");
    assert_has(t, "workers 2/2");
    assert_int_equal(strcmp(t + strlen(t) - 3, "\033[K"), 0);
    assert_lacks(t, "\n");
    /* Not a terminal: 80 columns, so a line of at most 79 between \r and \033[K. */
    assert_true(strlen(t) - 4 <= 79);
}

static void test_clear_erases_the_line_once(void **state)
{
    sink *s = *state;
    kp_progress p;
    kp_progress_init(&p, s->f, 10, 0, true);
    kp_progress_clear(&p); /* nothing shown yet: nothing to erase */
    assert_int_equal(strlen(sink_text(s)), 0);
    kp_pool_stats st = {.total = 10, .ok = 5, .workers = 1};
    kp_progress_tick(&p, &st, 1);
    size_t drawn = strlen(sink_text(s));
    kp_progress_clear(&p);
    kp_progress_clear(&p);
    assert_string_equal(sink_text(s) + drawn, "\r\033[K");
    /* The next tick draws it again. */
    kp_progress_tick(&p, &st, 1);
    assert_has(sink_text(s) + drawn + 4, " 5/10");
}

static void test_end_erases_the_line_for_good(void **state)
{
    sink *s = *state;
    kp_progress p;
    kp_progress_init(&p, s->f, 10, 0, true);
    kp_pool_stats st = {.total = 10, .ok = 10, .workers = 1};
    kp_progress_tick(&p, &st, 0);
    size_t drawn = strlen(sink_text(s));
    kp_progress_end(&p);
    assert_string_equal(sink_text(s) + drawn, "\r\033[K");
    kp_progress_tick(&p, &st, 0);
    kp_progress_clear(&p);
    kp_progress_end(&p);
    assert_int_equal(strlen(sink_text(s)), drawn + 4);
}

static void test_off_writes_nothing(void **state)
{
    sink *s = *state;
    kp_progress p;
    kp_progress_init(&p, s->f, 10, 0, false);
    kp_pool_stats st = {.total = 10, .ok = 5, .workers = 1};
    kp_progress_tick(&p, &st, 1);
    kp_progress_clear(&p);
    kp_progress_end(&p);
    assert_int_equal(strlen(sink_text(s)), 0);
}

static void test_resumed_run_counts_the_recorded_tasks(void **state)
{
    sink *s = *state;
    kp_progress p;
    kp_progress_init(&p, s->f, 100, 50, true);
    kp_pool_stats st = {.total = 50, .ok = 10, .workers = 2};
    kp_progress_tick(&p, &st, 2);
    assert_has(sink_text(s), " 60/100");
    assert_has(sink_text(s), " 60%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_width_200_has_every_part_and_the_widest_bar),
        cmocka_unit_test(test_format_width_80_keeps_a_bar),
        cmocka_unit_test(test_format_width_40_drops_the_bar_first),
        cmocka_unit_test(test_format_width_20_keeps_the_count),
        cmocka_unit_test(test_format_tiny_widths_cut_the_count),
        cmocka_unit_test(test_format_never_exceeds_the_width_or_the_buffer),
        cmocka_unit_test(test_format_zero_tasks_is_complete),
        cmocka_unit_test(test_format_unknown_rate_and_eta_show_dashes),
        cmocka_unit_test(test_format_bar_is_full_only_when_every_task_is_done),
        cmocka_unit_test(test_format_zero_failed_gives_way_to_the_bar),
        cmocka_unit_test(test_format_columns_do_not_move_as_numbers_grow),
        cmocka_unit_test(test_rate_text_has_three_digits_and_a_suffix),
        cmocka_unit_test(test_duration_text_is_h_mm_ss),
        cmocka_unit_test(test_update_rate_unknown_until_a_task_finishes),
        cmocka_unit_test(test_update_rate_is_smoothed_over_the_window),
        cmocka_unit_test(test_update_slow_tasks_use_the_average_since_the_start),
        cmocka_unit_test_setup_teardown(test_tick_redraws_one_line_in_place, sink_setup,
                                        sink_teardown),
        cmocka_unit_test_setup_teardown(test_clear_erases_the_line_once, sink_setup, sink_teardown),
        cmocka_unit_test_setup_teardown(test_end_erases_the_line_for_good, sink_setup,
                                        sink_teardown),
        cmocka_unit_test_setup_teardown(test_off_writes_nothing, sink_setup, sink_teardown),
        cmocka_unit_test_setup_teardown(test_resumed_run_counts_the_recorded_tasks, sink_setup,
                                        sink_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
