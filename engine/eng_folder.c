/* eng_folder.c — what flashgen's -m argument is (see eng_folder.h). */
#include "eng_folder.h"
#include "fu_util.h"
#include "hf_cache.h"
#include "pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ef_resolve(const char *arg, char **dir, char *note, size_t notelen, char *err, size_t errlen)
{
    return hfc_resolve(arg, dir, note, notelen, err, errlen);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* 1 when the regular file name in directory fd dfd starts with the flashfs-pack header. */
static int is_packed(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    int packed = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        packed = pk_probe(fu_fd_read, (void *)(intptr_t)fd, (uint64_t)st.st_size) == 1;
    close(fd);
    return packed;
}

int ef_probe(const char *dir, char *msg, size_t msglen)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        snprintf(msg, msglen, "%s: %s", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (S_ISREG(st.st_mode) && ends_with(dir, ".gguf"))
            return 0;
        snprintf(msg, msglen, "%s is not a directory or a .gguf file (-m takes a Hugging Face model folder or "
                 "a GGUF model)", dir);
        return 1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, msglen, "%s: %s", dir, strerror(errno));
        return 1;
    }
    char gguf[256] = "", packed[256] = "";
    int has_config = 0, n_gguf = 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        if (!strcmp(e->d_name, "config.json"))
            has_config = 1;
        int tensor = ends_with(e->d_name, ".safetensors") || ends_with(e->d_name, ".gguf");
        if (ends_with(e->d_name, ".gguf") && e->d_name[0] != '.' && !n_gguf++)
            snprintf(gguf, sizeof gguf, "%s", e->d_name);
        if (tensor && !packed[0] && is_packed(dirfd(d), e->d_name))
            snprintf(packed, sizeof packed, "%s", e->d_name);
    }
    closedir(d);
    if (packed[0]) {
        snprintf(msg, msglen, "%s holds files packed by flashfs-pack (%s): mount it with flashfs first "
                 "(flashfs %s MOUNTPOINT) and run flashgen -m MOUNTPOINT", dir, packed, dir);
        return 1;
    }
    if (has_config)
        return 0;
    if (n_gguf == 1)
        return 0;
    if (n_gguf > 1)
        snprintf(msg, msglen, "%s holds %d GGUF files and no config.json: name one with -m (e.g. -m %s/%s)", dir,
                 n_gguf, dir, gguf);
    else if (n == 0)
        snprintf(msg, msglen, "%s is empty (-m takes a Hugging Face model folder: config.json, tokenizer.json, "
                 "*.safetensors)", dir);
    else
        snprintf(msg, msglen, "%s has no config.json: not a Hugging Face model folder (%zu other entries)", dir, n);
    return 1;
}
