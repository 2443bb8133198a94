/* test_control_parse.c — unit tests of ctl_parse (fs/control_parse.c) and of the option
 * parser (fs/ffs_opts.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "control.h"
#include "ffs_exit.h"
#include "ffs_opts.h"
#include "fu_util.h"

static int parse(const char *s, ctl_cmd_t *c, char *err)
{
    err[0] = '\0';
    return ctl_parse(s, strlen(s), c, err, 256);
}

START_TEST(cmd_ram)
{
    ctl_cmd_t c;
    char err[256];
    ck_assert_int_eq(parse("ram 2G", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_RAM);
    ck_assert_uint_eq(c.value, 2ull << 30);
    ck_assert_int_eq(parse("  ram\t512M \r", &c, err), 0);
    ck_assert_uint_eq(c.value, 512ull << 20);
    ck_assert_int_eq(parse("ram", &c, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "usage"));
    ck_assert_int_eq(parse("ram lots", &c, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "lots"));
    ck_assert_int_eq(parse("ram 1M", &c, err), -EINVAL); /* below the minimum */
    ck_assert_int_eq(parse("ram 1G 2G", &c, err), -EINVAL);
}
END_TEST

START_TEST(cmd_drop_nop_unknown)
{
    ctl_cmd_t c;
    char err[256];
    ck_assert_int_eq(parse("drop", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_DROP);
    ck_assert_int_eq(parse("drop now", &c, err), -EINVAL);
    ck_assert_int_eq(parse("", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_NOP);
    ck_assert_int_eq(parse("   # comment", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_NOP);
    ck_assert_int_eq(parse("frobnicate 3", &c, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "frobnicate"));
    ck_assert_int_eq(parse("ra\x01m 2G", &c, err), -EINVAL);
}
END_TEST

START_TEST(cmd_pin_prefetch)
{
    ctl_cmd_t c;
    char err[256];
    ck_assert_int_eq(parse("pin layer.0 norm", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_PIN);
    ck_assert_uint_eq(c.n_args, 2);
    ck_assert_str_eq(c.args[0], "layer.0");
    ck_assert_str_eq(c.args[1], "norm");
    ck_assert_int_eq(parse("pin", &c, err), -EINVAL);
    ck_assert_int_eq(parse("unpin", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_UNPIN);
    ck_assert_uint_eq(c.n_args, 0);
    ck_assert_int_eq(parse("prefetch off", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_PREFETCH);
    ck_assert_uint_eq(c.value, 0);
    ck_assert_int_eq(parse("prefetch on", &c, err), 0);
    ck_assert_uint_eq(c.value, 1);
    ck_assert_int_eq(parse("prefetch maybe", &c, err), -EINVAL);
    ck_assert_int_eq(parse("prefetch-depth 4", &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_PREFETCH_DEPTH);
    ck_assert_uint_eq(c.value, 4);
    ck_assert_int_eq(parse("prefetch-depth 0", &c, err), -EINVAL);
    ck_assert_int_eq(parse("prefetch-depth -1", &c, err), -EINVAL);
    ck_assert_int_eq(parse("prefetch-depth 9999999999999999999999", &c, err), -EINVAL);
    ck_assert_int_eq(parse("prefetch-depth 4x", &c, err), -EINVAL);
}
END_TEST

START_TEST(cmd_limits)
{
    ctl_cmd_t c;
    char err[256];
    char line[8192];
    /* a group name longer than CTL_ARG_LEN */
    strcpy(line, "pin ");
    memset(line + 4, 'a', 100);
    line[104] = '\0';
    ck_assert_int_eq(parse(line, &c, err), -EINVAL);
    /* more arguments than CTL_MAX_ARGS */
    strcpy(line, "pin");
    for (int i = 0; i < CTL_MAX_ARGS + 1; i++)
        strcat(line, " g");
    ck_assert_int_eq(parse(line, &c, err), -EINVAL);
    /* too long a line, not NUL-terminated within len */
    memset(line, ' ', sizeof line);
    ck_assert_int_eq(ctl_parse(line, sizeof line, &c, err, sizeof err), -EINVAL);
    /* len excludes trailing bytes */
    ck_assert_int_eq(ctl_parse("dropXYZ", 4, &c, err, sizeof err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_DROP);
}
END_TEST

static int opts(ffs_opts_t *o, char *err, int n, char **argv)
{
    return ffs_opts_parse(n, argv, o, err, 256);
}

/* issue 13 item 8: `ram` takes the strict size grammar and refuses more than physical RAM
 * unless the word `force` follows */
START_TEST(cmd_ram_strict_force)
{
    ctl_cmd_t c;
    char err[256], line[128];
    uint64_t ram = fu_phys_ram();
    ck_assert_uint_gt(ram, 0);
    ck_assert_int_eq(parse("ram 1e19", &c, err), -EINVAL);
    ck_assert_str_eq(err, "ram: bad size '1e19' (decimal with a unit: 512M, 2G or 25%)");
    ck_assert_int_eq(parse("ram 0x40M", &c, err), -EINVAL);
    ck_assert_str_eq(err, "ram: bad size '0x40M' (decimal with a unit: 512M, 2G or 25%)");
    ck_assert_int_eq(parse("ram 99999999999T force", &c, err), -EINVAL);
    ck_assert_str_eq(err, "ram: 99999999999T is too large");
    snprintf(line, sizeof line, "ram %lluK", (unsigned long long)(ram / 1024 + 1));
    ck_assert_int_eq(parse(line, &c, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "is more than the physical RAM"));
    ck_assert_ptr_nonnull(strstr(err, "force' to set it anyway"));
    strcat(line, " force");
    ck_assert_int_eq(parse(line, &c, err), 0);
    ck_assert_int_eq(c.op, CTL_CMD_RAM);
    ck_assert_uint_eq(c.value, (ram / 1024 + 1) * 1024);
    ck_assert_int_eq(parse("ram 8M force", &c, err), 0);
    ck_assert_uint_eq(c.value, 8ull << 20);
    ck_assert_int_eq(parse("ram 8M forced", &c, err), -EINVAL);
    ck_assert_str_eq(err, "usage: ram SIZE [force] (e.g. ram 2G)");
}
END_TEST

/* issue 13 item 8: what goes to last_error is valid UTF-8 without control characters */
START_TEST(escape_text)
{
    char out[64];
    const char in1[] = "frob\xff\xfe x";
    ck_assert_uint_eq(ctl_escape(in1, strlen(in1), out, sizeof out), 14);
    ck_assert_str_eq(out, "frob\\xff\\xfe x");
    const char in2[] = "caf\xc3\xa9 \x01\x7f a\\b";
    ctl_escape(in2, strlen(in2), out, sizeof out);
    ck_assert_str_eq(out, "caf\xc3\xa9 \\x01\\x7f a\\\\b");
    /* a sequence cut by truncation (%.40s in a message) is escaped byte by byte */
    const char in3[] = "x\xe2\x82";
    ctl_escape(in3, strlen(in3), out, sizeof out);
    ck_assert_str_eq(out, "x\\xe2\\x82");
    /* output truncated at a character boundary, NUL-terminated */
    ck_assert_uint_eq(ctl_escape(in1, strlen(in1), out, 8), 4);
    ck_assert_str_eq(out, "frob");
    ck_assert_uint_eq(ctl_escape("\xc3\xa9\xc3\xa9", 4, out, 4), 2);
    ck_assert_str_eq(out, "\xc3\xa9");
}
END_TEST

/* --ram above physical RAM needs --force (or -o force) */
START_TEST(opts_force)
{
    ffs_opts_t o;
    char err[256], ram[64];
    snprintf(ram, sizeof ram, "%lluK", (unsigned long long)(fu_phys_ram() / 1024 + 1));
    char *a1[] = { "flashfs", "--ram", ram, "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 5, a1), FFS_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "is more than the physical RAM"));
    ck_assert_ptr_nonnull(strstr(err, "add --force to use it anyway"));
    ffs_opts_free(&o);
    char *a2[] = { "flashfs", "--force", "--ram", ram, "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 6, a2), 0);
    ck_assert_uint_eq(o.budget, (fu_phys_ram() / 1024 + 1) * 1024);
    ffs_opts_free(&o);
    char opt[96];
    snprintf(opt, sizeof opt, "ram=%s,force", ram);
    char *a3[] = { "flashfs", "/m", "/mnt", "-o", opt };
    ck_assert_int_eq(opts(&o, err, 5, a3), 0);
    ck_assert_int_eq(o.force, 1);
    ffs_opts_free(&o);
    char *a4[] = { "flashfs", "--ram", "0x40M", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 5, a4), FFS_EXIT_USAGE);
    ck_assert_str_eq(err, "bad --ram value '0x40M' (decimal with a unit: 512M, 2G or 25%)");
    ffs_opts_free(&o);
}
END_TEST

START_TEST(opts_forms)
{
    ffs_opts_t o;
    char err[256];
    char *a1[] = { "flashfs", "--ram", "2G", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 5, a1), 0);
    ck_assert_uint_eq(o.budget, 2ull << 30);
    ck_assert_str_eq(o.model_dir, "/m");
    ck_assert_str_eq(o.mountpoint, "/mnt");
    ffs_opts_free(&o);
    /* the form mount.fuse3 uses for an fstab line */
    char *a2[] = { "flashfs", "/m", "/mnt", "-o", "rw,ram=512M,allow_other" };
    ck_assert_int_eq(opts(&o, err, 5, a2), 0);
    ck_assert_uint_eq(o.budget, 512ull << 20);
    ck_assert_int_eq(o.foreground, 0);
    ffs_opts_free(&o);
    char *a3[] = { "flashfs", "-d", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 4, a3), 0);
    ck_assert_int_eq(o.foreground, 1);
    ck_assert_int_eq(o.debug, 1);
    ck_assert_uint_gt(o.budget, 0); /* the default */
    ffs_opts_free(&o);
    char *a4[] = { "flashfs", "--version" };
    ck_assert_int_eq(opts(&o, err, 2, a4), 0);
    ck_assert_int_eq(o.show_version, 1);
    ffs_opts_free(&o);
}
END_TEST

START_TEST(opts_errors)
{
    ffs_opts_t o;
    char err[256];
    char *a1[] = { "flashfs", "--ram", "lots", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 5, a1), FFS_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "lots"));
    ffs_opts_free(&o);
    char *a2[] = { "flashfs", "/m" };
    ck_assert_int_eq(opts(&o, err, 2, a2), FFS_EXIT_USAGE);
    ffs_opts_free(&o);
    char *a3[] = { "flashfs", "/m", "/mnt", "/extra" };
    ck_assert_int_eq(opts(&o, err, 4, a3), FFS_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "/extra"));
    ffs_opts_free(&o);
    char *a4[] = { "flashfs", "--bogus", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 4, a4), FFS_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    ffs_opts_free(&o);
    char *a5[] = { "flashfs", "-o", "ram=1K", "/m", "/mnt" };
    ck_assert_int_eq(opts(&o, err, 5, a5), FFS_EXIT_USAGE);
    ffs_opts_free(&o);
}
END_TEST

Suite *control_parse_suite(void)
{
    Suite *s = suite_create("control_parse");
    TCase *t = tcase_create("core");
    tcase_add_test(t, cmd_ram);
    tcase_add_test(t, cmd_drop_nop_unknown);
    tcase_add_test(t, cmd_pin_prefetch);
    tcase_add_test(t, cmd_limits);
    tcase_add_test(t, opts_forms);
    tcase_add_test(t, opts_errors);
    tcase_add_test(t, cmd_ram_strict_force);
    tcase_add_test(t, escape_text);
    tcase_add_test(t, opts_force);
    suite_add_tcase(s, t);
    return s;
}
