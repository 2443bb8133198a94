/* test_util.c — unit tests of fs/util_*.c: size parsing, full reads, file loading and copying, UTF-8. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fu_util.h"

START_TEST(size_units)
{
    uint64_t v;
    ck_assert_int_eq(fu_parse_size("123", &v), 0);
    ck_assert_uint_eq(v, 123);
    ck_assert_int_eq(fu_parse_size("64K", &v), 0);
    ck_assert_uint_eq(v, 64 * 1024);
    ck_assert_int_eq(fu_parse_size("2G", &v), 0);
    ck_assert_uint_eq(v, 2ull << 30);
    ck_assert_int_eq(fu_parse_size("1.5GiB", &v), 0);
    ck_assert_uint_eq(v, 3ull << 29);
    ck_assert_int_eq(fu_parse_size("512MB", &v), 0);
    ck_assert_uint_eq(v, 512ull << 20);
    ck_assert_int_eq(fu_parse_size(" 7m ", &v), 0);
    ck_assert_uint_eq(v, 7ull << 20);
}
END_TEST

START_TEST(size_percent)
{
    uint64_t v, ram = fu_phys_ram();
    ck_assert_uint_gt(ram, 0);
    ck_assert_int_eq(fu_parse_size("50%", &v), 0);
    ck_assert_uint_eq(v, ram / 2);
    ck_assert_int_eq(fu_parse_size("101%", &v), -EINVAL);
}
END_TEST

START_TEST(size_garbage)
{
    uint64_t v;
    const char *bad[] = { "", "G", "-1G", "1X", "1GG", "abc", "1.2.3", "1e400", "nan", "inf" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(fu_parse_size(bad[i], &v) < 0, "accepted '%s'", bad[i]);
    ck_assert_int_eq(fu_parse_size(NULL, &v), -EINVAL);
    ck_assert_int_eq(fu_parse_size("99999999999T", &v), -ERANGE);
}
END_TEST

/* issue 13 item 8: decimal with units only, integer arithmetic, overflow refused */
START_TEST(size_decimal_only)
{
    uint64_t v = 7;
    const char *bad[] = { "0x40M", "0x10", "1e19", "1E3", "1e3M", "+1G", "-1", ".5G", "1.G", "1 G B", "1KK",
                          "0b101", "1,5G", "１G" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(fu_parse_size(bad[i], &v) == -EINVAL, "'%s' not refused with EINVAL", bad[i]);
        ck_assert_uint_eq(v, 7);
    }
    ck_assert_int_eq(fu_parse_size("18446744073709551615", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(fu_parse_size("18446744073709551616", &v), -ERANGE);
    ck_assert_int_eq(fu_parse_size("16777216T", &v), -ERANGE);        /* 2^24 * 2^40 = 2^64 */
    ck_assert_int_eq(fu_parse_size("16777215T", &v), 0);
    ck_assert_uint_eq(v, 16777215ull << 40);
    ck_assert_int_eq(fu_parse_size("99999999999999999999999999K", &v), -ERANGE);
    ck_assert_int_eq(fu_parse_size("0.5M", &v), 0);
    ck_assert_uint_eq(v, 512 * 1024);
    ck_assert_int_eq(fu_parse_size("1.0000000001K", &v), 0);        /* extra fraction digits ignored */
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(fu_parse_size("1.75t", &v), 0);
    ck_assert_uint_eq(v, 7ull << 38);
}
END_TEST

/* --ram / `ram`: above physical RAM only with force */
START_TEST(ram_above_physical)
{
    uint64_t v = 0, ram = fu_phys_ram();
    ck_assert_uint_gt(ram, 0);
    char s[64];
    snprintf(s, sizeof s, "%llu", (unsigned long long)ram + 1);
    ck_assert_int_eq(fu_parse_ram(s, 0, &v), -E2BIG);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(fu_parse_ram(s, 1, &v), 0);
    ck_assert_uint_eq(v, ram + 1);
    snprintf(s, sizeof s, "%llu", (unsigned long long)ram);
    ck_assert_int_eq(fu_parse_ram(s, 0, &v), 0);
    ck_assert_uint_eq(v, ram);
    ck_assert_int_eq(fu_parse_ram("100%", 0, &v), 0);
    ck_assert_uint_eq(v, ram);
    ck_assert_int_eq(fu_parse_ram("0x40M", 1, &v), -EINVAL);
    ck_assert_int_eq(fu_parse_ram("1e19", 1, &v), -EINVAL);
    ck_assert_int_eq(fu_parse_ram("99999999999T", 1, &v), -ERANGE);
}
END_TEST

START_TEST(format_size)
{
    char b[32];
    ck_assert_str_eq(fu_format_size(512, b, sizeof b), "512 B");
    ck_assert_str_eq(fu_format_size(3ull << 29, b, sizeof b), "1.50 GiB");
}
END_TEST

START_TEST(pread_full_and_file)
{
    char path[] = "/tmp/fu_test_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char msg[] = "hello flashfs";
    ck_assert_int_eq(fu_write_full(fd, msg, sizeof msg - 1), 0);
    char buf[8];
    ck_assert_int_eq(fu_pread_full(fd, buf, 5, 6), 0);
    ck_assert_int_eq(memcmp(buf, "flash", 5), 0);
    ck_assert_int_eq(fu_pread_full(fd, buf, 8, 10), -EIO);
    ck_assert_int_eq(fu_fd_read((void *)(intptr_t)fd, buf, 2, 0), 0);
    ck_assert_int_eq(memcmp(buf, "he", 2), 0);
    close(fd);

    char *data;
    size_t n;
    ck_assert_int_eq(fu_read_file(path, 100, &data, &n), 0);
    ck_assert_uint_eq(n, sizeof msg - 1);
    ck_assert_str_eq(data, msg);
    free(data);
    ck_assert_int_eq(fu_read_file(path, 4, &data, &n), -EFBIG);
    unlink(path);
    ck_assert_int_eq(fu_read_file(path, 100, &data, &n), -ENOENT);
}
END_TEST

START_TEST(copy_file)
{
    char src[] = "/tmp/fu_test_XXXXXX", dst[] = "/tmp/fu_test_XXXXXX";
    int fd = mkstemp(src), fd2 = mkstemp(dst);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(fd2, 0);
    /* more than one 64 KiB read, and a destination longer than the source (truncated) */
    size_t n = 200000;
    char *data = malloc(n), *back;
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(i * 7 + i / 251);
    ck_assert_int_eq(fu_write_full(fd, data, n), 0);
    ck_assert_int_eq(fu_write_full(fd2, data, n), 0);
    ck_assert_int_eq(fu_write_full(fd2, "tail", 4), 0);
    close(fd);
    close(fd2);
    ck_assert_int_eq(fu_copy_file(src, dst), 0);
    size_t got;
    ck_assert_int_eq(fu_read_file(dst, n + 100, &back, &got), 0);
    ck_assert_uint_eq(got, n);
    ck_assert_int_eq(memcmp(back, data, n), 0);
    free(back);
    free(data);
    ck_assert_int_eq(fu_copy_file(src, "/nonexistent-dir/x"), -ENOENT);
    unlink(src);
    ck_assert_int_eq(fu_copy_file(src, dst), -ENOENT);
    unlink(dst);
}
END_TEST

START_TEST(mem_reader_bounds)
{
    const char d[] = "abcdef";
    fu_mem_t m = { d, 6 };
    char b[4];
    ck_assert_int_eq(fu_mem_read(&m, b, 3, 3), 0);
    ck_assert_int_eq(memcmp(b, "def", 3), 0);
    ck_assert_int_eq(fu_mem_read(&m, b, 4, 3), -EIO);
    ck_assert_int_eq(fu_mem_read(&m, b, 1, UINT64_MAX), -EIO);
}
END_TEST

/* UTF-8: one row per input, given exactly len bytes (a malloc'd copy, so that ASan would
 * see a read past n): fu_utf8_seq's result, fu_utf8_prefix's result and *full. */
typedef struct {
    const char *what, *bytes;
    size_t len, seq, prefix, full;
} utf8_case_t;

static const utf8_case_t utf8_cases[] = {
    /* valid, 1 to 4 bytes, at the edges of each range */
    { "U+0000",            "\x00",             1, 1, 1, 1 },
    { "U+0041",            "A",                1, 1, 1, 1 },
    { "U+007F",            "\x7F",             1, 1, 1, 1 },
    { "U+0080",            "\xC2\x80",         2, 2, 2, 2 },
    { "U+07FF",            "\xDF\xBF",         2, 2, 2, 2 },
    { "U+0800",            "\xE0\xA0\x80",     3, 3, 3, 3 },
    { "U+0FFF",            "\xE0\xBF\xBF",     3, 3, 3, 3 },
    { "U+1000",            "\xE1\x80\x80",     3, 3, 3, 3 },
    { "U+D7FF",            "\xED\x9F\xBF",     3, 3, 3, 3 },
    { "U+E000",            "\xEE\x80\x80",     3, 3, 3, 3 },
    { "U+FFFF",            "\xEF\xBF\xBF",     3, 3, 3, 3 },
    { "U+10000",           "\xF0\x90\x80\x80", 4, 4, 4, 4 },
    { "U+3FFFF",           "\xF0\xBF\xBF\xBF", 4, 4, 4, 4 },
    { "U+40000",           "\xF1\x80\x80\x80", 4, 4, 4, 4 },
    { "U+FFFFF",           "\xF3\xBF\xBF\xBF", 4, 4, 4, 4 },
    { "U+10FFFF",          "\xF4\x8F\xBF\xBF", 4, 4, 4, 4 },
    { "valid + trailing",  "\xC3\xA9" "A",     3, 2, 2, 2 },
    /* lone continuation bytes and bytes that never appear */
    { "lone 80",           "\x80",             1, 0, 0, 0 },
    { "lone BF",           "\xBF\x80",         2, 0, 0, 0 },
    { "F8",                "\xF8\x88\x80\x80", 4, 0, 0, 0 },
    { "FE",                "\xFE",             1, 0, 0, 0 },
    { "FF",                "\xFF",             1, 0, 0, 0 },
    /* overlong forms */
    { "overlong C0 80",    "\xC0\x80",         2, 0, 0, 0 },
    { "overlong C1 BF",    "\xC1\xBF",         2, 0, 0, 0 },
    { "overlong E0 80 80", "\xE0\x80\x80",     3, 0, 1, 3 },
    { "overlong E0 9F BF", "\xE0\x9F\xBF",     3, 0, 1, 3 },
    { "overlong F0 80",    "\xF0\x80\x80\x80", 4, 0, 1, 4 },
    { "overlong F0 8F",    "\xF0\x8F\xBF\xBF", 4, 0, 1, 4 },
    /* surrogates U+D800..U+DFFF */
    { "surrogate D800",    "\xED\xA0\x80",     3, 0, 1, 3 },
    { "surrogate DFFF",    "\xED\xBF\xBF",     3, 0, 1, 3 },
    /* beyond U+10FFFF */
    { "U+110000",          "\xF4\x90\x80\x80", 4, 0, 1, 4 },
    { "F4 BF",             "\xF4\xBF\xBF\xBF", 4, 0, 1, 4 },
    { "F5",                "\xF5\x80\x80\x80", 4, 0, 0, 0 },
    { "F7",                "\xF7\xBF\xBF\xBF", 4, 0, 0, 0 },
    /* a bad continuation byte after a good start */
    { "C2 41",             "\xC2\x41",         2, 0, 1, 2 },
    { "C2 C0",             "\xC2\xC0",         2, 0, 1, 2 },
    { "E1 80 41",          "\xE1\x80\x41",     3, 0, 2, 3 },
    { "E1 41 80",          "\xE1\x41\x80",     3, 0, 1, 3 },
    { "F1 80 80 C0",       "\xF1\x80\x80\xC0", 4, 0, 3, 4 },
    { "F0 90 7F 80",       "\xF0\x90\x7F\x80", 4, 0, 2, 4 },
    /* truncated: a valid start cut off by the end of the input */
    { "C2 |",              "\xC2",             1, 0, 1, 2 },
    { "E0 A0 |",           "\xE0\xA0",         2, 0, 2, 3 },
    { "E1 |",              "\xE1",             1, 0, 1, 3 },
    { "ED 9F |",           "\xED\x9F",         2, 0, 2, 3 },
    { "F0 90 80 |",        "\xF0\x90\x80",     3, 0, 3, 4 },
    { "F4 8F |",           "\xF4\x8F",         2, 0, 2, 4 },
    { "F3 |",              "\xF3",             1, 0, 1, 4 },
    /* truncated and also invalid: the bad byte decides */
    { "E0 80 |",           "\xE0\x80",         2, 0, 1, 3 },
    { "ED A0 |",           "\xED\xA0",         2, 0, 1, 3 },
    { "F4 90 |",           "\xF4\x90",         2, 0, 1, 4 },
};

START_TEST(utf8_table)
{
    for (size_t k = 0; k < sizeof utf8_cases / sizeof *utf8_cases; k++) {
        const utf8_case_t *c = &utf8_cases[k];
        uint8_t *s = malloc(c->len);
        ck_assert_ptr_nonnull(s);
        memcpy(s, c->bytes, c->len);
        size_t full = 99;
        size_t got = fu_utf8_prefix(s, c->len, &full);
        ck_assert_msg(got == c->prefix && full == c->full, "%s: prefix %zu full %zu, want %zu %zu",
                      c->what, got, full, c->prefix, c->full);
        size_t seq = fu_utf8_seq(s, c->len);
        ck_assert_msg(seq == c->seq, "%s: seq %zu, want %zu", c->what, seq, c->seq);
        /* the two agree: complete and valid exactly when prefix == a nonzero full */
        ck_assert_uint_eq(seq, full && got == full ? full : 0);
        free(s);
    }
}
END_TEST

START_TEST(utf8_every_prefix_of_valid)
{
    /* every valid sequence cut short at each length is a truncated, not an invalid, start */
    const char *seqs[] = { "\xC2\x80", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEF\xBF\xBF",
                           "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF" };
    for (size_t k = 0; k < sizeof seqs / sizeof *seqs; k++) {
        size_t len = strlen(seqs[k]);
        for (size_t n = 1; n <= len; n++) {
            uint8_t *s = malloc(n);
            ck_assert_ptr_nonnull(s);
            memcpy(s, seqs[k], n);
            size_t full = 0;
            ck_assert_uint_eq(fu_utf8_prefix(s, n, &full), n);
            ck_assert_uint_eq(full, len);
            ck_assert_uint_eq(fu_utf8_seq(s, n), n == len ? len : 0);
            free(s);
        }
    }
}
END_TEST

START_TEST(utf8_lead_bytes)
{
    /* the announced length of every lead byte, with a long enough run of 80..BF after it */
    for (unsigned c = 0; c < 256; c++) {
        uint8_t s[4] = { (uint8_t)c, 0x90, 0x80, 0x80 };
        size_t want = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
        size_t full = 99;
        fu_utf8_prefix(s, 4, &full);
        ck_assert_msg(full == want, "lead %02X: full %zu, want %zu", c, full, want);
    }
}
END_TEST

START_TEST(parse_numbers)
{
    long v = -1;
    double d = -1;
    ck_assert_int_eq(fu_parse_long("42", 0, 100, &v), 0);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(fu_parse_long("-3", -5, 5, &v), 0);
    ck_assert_int_eq(v, -3);
    /* trailing text, fractions, out of range, empty, overflow: refused, v untouched */
    const char *bad_long[] = { "2.5", "12x", "", "101", "-1", "99999999999999999999999", " " };
    for (size_t i = 0; i < sizeof bad_long / sizeof *bad_long; i++)
        ck_assert_msg(fu_parse_long(bad_long[i], 0, 100, &v) == -EINVAL, "accepted '%s'", bad_long[i]);
    ck_assert_int_eq(v, -3);
    ck_assert_int_eq(fu_parse_double("0.25", 0, 1, &d), 0);
    ck_assert(d == 0.25);
    const char *bad_double[] = { "nan", "1.5", "0.1x", "", "-0.5", "1e999" };
    for (size_t i = 0; i < sizeof bad_double / sizeof *bad_double; i++)
        ck_assert_msg(fu_parse_double(bad_double[i], 0, 1, &d) == -EINVAL, "accepted '%s'", bad_double[i]);
    ck_assert(d == 0.25);
}
END_TEST

Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, size_units);
    tcase_add_test(tc, size_percent);
    tcase_add_test(tc, size_garbage);
    tcase_add_test(tc, size_decimal_only);
    tcase_add_test(tc, parse_numbers);
    tcase_add_test(tc, ram_above_physical);
    tcase_add_test(tc, format_size);
    tcase_add_test(tc, pread_full_and_file);
    tcase_add_test(tc, copy_file);
    tcase_add_test(tc, mem_reader_bounds);
    suite_add_tcase(s, tc);
    TCase *tu = tcase_create("utf8");
    tcase_add_test(tu, utf8_table);
    tcase_add_test(tu, utf8_every_prefix_of_valid);
    tcase_add_test(tu, utf8_lead_bytes);
    suite_add_tcase(s, tu);
    return s;
}
