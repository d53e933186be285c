// FUSE low-level request handlers, grouped one file per concern (ops_*.cc, as listed
// below). Each handler replies exactly once, last, and answers errors as -errno; an
// exception that still escapes one is caught at the C boundary (ops_table.cc) and
// answered EIO. fuse_req_userdata() is the Filesystem.
#pragma once

#include <optional>
#include <string>

#include "fs/filesystem.h"

namespace agentfense::fs {

inline Filesystem& fs_of(fuse_req_t req) {
  return *static_cast<Filesystem*>(fuse_req_userdata(req));
}

// The node, or replies ENOENT and returns nullopt.
std::optional<NodeView> node_or_reply(fuse_req_t req, fuse_ino_t ino);
// Replies with fresh presented attributes of `id` (after a change), or its error.
void reply_fresh_attr(fuse_req_t req, fuse_ino_t id);
// Shared by everything that creates a name: requires kWrite on the new path (EACCES
// otherwise, whether or not a hidden entry exists), EEXIST if a visible entry exists, and
// prepares the upper parent directory. Caller holds mutation_mu().
int prepare_create(Filesystem& fs, const NodeView& parent, const std::string& name, Op op,
                   bool is_dir, int* upper_parent);
// After the name was created in upper: clears a whiteout left by an earlier delete (and
// marks a recreated directory opaque), then looks the new entry up into `entry`.
int finish_create(Filesystem& fs, const NodeView& parent, const std::string& name, bool make_opaque,
                  fuse_entry_param* entry);

// ops_lookup.cc
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets);
void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_statfs(fuse_req_t req, fuse_ino_t ino);
// ops_read.cc
void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
// ops_write.cc
void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info* fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
                  fuse_file_info* fi);
// ops_setattr.cc
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
// ops_create.cc
void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
// ops_remove.cc
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
// ops_link.cc
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned int flags);
// ops_xattr.cc
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

// ops_table.cc
fuse_lowlevel_ops make_operations();
void configure_connection(void* userdata, fuse_conn_info* conn);

}  // namespace agentfense::fs
