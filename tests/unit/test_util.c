/* test_util.c — unit tests of fs/util_*.c: size parsing, full reads, file loading. */
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

Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, size_units);
    tcase_add_test(tc, size_percent);
    tcase_add_test(tc, size_garbage);
    tcase_add_test(tc, format_size);
    tcase_add_test(tc, pread_full_and_file);
    tcase_add_test(tc, mem_reader_bounds);
    suite_add_tcase(s, tc);
    return s;
}
