/* A minimal case-insensitive passthrough (FUSE, high-level API): SOURCE mounted at
 * MOUNTPOINT finds every name whatever its letter case, like an ext4/f2fs casefold
 * directory, vfat, exfat, SMB/CIFS or WSL's drvfs. test_case_folding.py builds it to stand
 * in for those, which a test host cannot mount.
 * Usage: casefold_fuse SOURCE MOUNTPOINT [FUSE options] */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char *source;

/* The host path of `path`, each component matched without regard to case; the last one
 * may be missing when `last_may_miss` (then kept as given: a new name). */
static int resolve(const char *path, char *out, int last_may_miss) {
  char copy[PATH_MAX], *save, *next;
  snprintf(out, PATH_MAX, "%s", source);
  snprintf(copy, sizeof copy, "%s", path);
  for (char *part = strtok_r(copy, "/", &save); part; part = next) {
    next = strtok_r(NULL, "/", &save);
    DIR *dir = opendir(out);
    if (!dir) return -ENOENT;
    const char *stored = NULL;
    for (struct dirent *entry; !stored && (entry = readdir(dir));)
      if (!strcasecmp(entry->d_name, part)) stored = entry->d_name;
    if (!stored && (next || !last_may_miss)) {
      closedir(dir);
      return -ENOENT;
    }
    size_t used = strlen(out);
    int room = snprintf(out + used, PATH_MAX - used, "/%s", stored ? stored : part);
    closedir(dir);
    if (room < 0 || (size_t)room >= PATH_MAX - used) return -ENAMETOOLONG;
  }
  return 0;
}

#define HOST(path, may_miss)                              \
  char host[PATH_MAX];                                    \
  do {                                                    \
    int rc_ = resolve(path, host, may_miss);              \
    if (rc_) return rc_;                                  \
  } while (0)
#define RESULT(call) ((call) < 0 ? -errno : 0)

static int cf_getattr(const char *p, struct stat *st, struct fuse_file_info *fi) {
  if (fi) return RESULT(fstat(fi->fh, st));
  HOST(p, 0);
  return RESULT(lstat(host, st));
}
static int cf_readlink(const char *p, char *buf, size_t size) {
  HOST(p, 0);
  ssize_t n = readlink(host, buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = 0;
  return 0;
}
static int cf_opendir(const char *p, struct fuse_file_info *fi) {
  (void)fi;
  HOST(p, 0);
  return 0;
}
static int cf_readdir(const char *p, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)off, (void)fi, (void)flags;
  HOST(p, 0);
  DIR *dir = opendir(host);
  if (!dir) return -errno;
  for (struct dirent *entry; (entry = readdir(dir));) fill(buf, entry->d_name, NULL, 0, 0);
  closedir(dir);
  return 0;
}
static int cf_open(const char *p, struct fuse_file_info *fi) {
  HOST(p, 0);
  int fd = open(host, fi->flags & ~O_NOFOLLOW);
  if (fd < 0) return -errno;
  fi->fh = fd;
  return 0;
}
static int cf_create(const char *p, mode_t mode, struct fuse_file_info *fi) {
  HOST(p, 1);
  int fd = open(host, fi->flags & ~O_NOFOLLOW, mode);
  if (fd < 0) return -errno;
  fi->fh = fd;
  return 0;
}
static int cf_read(const char *p, char *buf, size_t n, off_t off, struct fuse_file_info *fi) {
  (void)p;
  ssize_t done = pread(fi->fh, buf, n, off);
  return done < 0 ? -errno : (int)done;
}
static int cf_write(const char *p, const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi) {
  (void)p;
  ssize_t done = pwrite(fi->fh, buf, n, off);
  return done < 0 ? -errno : (int)done;
}
static int cf_release(const char *p, struct fuse_file_info *fi) {
  (void)p;
  close(fi->fh);
  return 0;
}
static int cf_fsync(const char *p, int data_only, struct fuse_file_info *fi) {
  (void)p, (void)data_only;
  return RESULT(fsync(fi->fh));
}
static int cf_mkdir(const char *p, mode_t mode) {
  HOST(p, 1);
  return RESULT(mkdir(host, mode));
}
static int cf_unlink(const char *p) {
  HOST(p, 0);
  return RESULT(unlink(host));
}
static int cf_rmdir(const char *p) {
  HOST(p, 0);
  return RESULT(rmdir(host));
}
static int cf_symlink(const char *target, const char *p) {
  HOST(p, 1);
  return RESULT(symlink(target, host));
}
static int cf_rename(const char *from, const char *to, unsigned int flags) {
  char host_from[PATH_MAX], host_to[PATH_MAX];
  int rc = resolve(from, host_from, 0);
  if (!rc) rc = resolve(to, host_to, 1);
  return rc ? rc : RESULT(renameat2(AT_FDCWD, host_from, AT_FDCWD, host_to, flags));
}
static int cf_chmod(const char *p, mode_t mode, struct fuse_file_info *fi) {
  (void)fi;
  HOST(p, 0);
  return RESULT(chmod(host, mode));
}
static int cf_chown(const char *p, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  (void)fi;
  HOST(p, 0);
  return RESULT(lchown(host, uid, gid));
}
static int cf_truncate(const char *p, off_t size, struct fuse_file_info *fi) {
  if (fi) return RESULT(ftruncate(fi->fh, size));
  HOST(p, 0);
  return RESULT(truncate(host, size));
}
static int cf_utimens(const char *p, const struct timespec times[2], struct fuse_file_info *fi) {
  (void)fi;
  HOST(p, 0);
  return RESULT(utimensat(AT_FDCWD, host, times, AT_SYMLINK_NOFOLLOW));
}
static int cf_statfs(const char *p, struct statvfs *st) {
  (void)p;
  return RESULT(statvfs(source, st));
}

static const struct fuse_operations ops = {
    .getattr = cf_getattr, .readlink = cf_readlink, .opendir = cf_opendir,
    .readdir = cf_readdir, .open = cf_open,         .create = cf_create,
    .read = cf_read,       .write = cf_write,       .release = cf_release,
    .fsync = cf_fsync,     .mkdir = cf_mkdir,       .unlink = cf_unlink,
    .rmdir = cf_rmdir,     .symlink = cf_symlink,   .rename = cf_rename,
    .chmod = cf_chmod,     .chown = cf_chown,       .truncate = cf_truncate,
    .utimens = cf_utimens, .statfs = cf_statfs,
};

int main(int argc, char **argv) {
  if (argc < 3 || !(source = realpath(argv[1], NULL))) return 2;
  argv[1] = argv[0];
  return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
