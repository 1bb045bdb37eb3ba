// Pin and unpin with a clear error when the path is not on a BPF filesystem (the kernel says EPERM).
#include "pin.h"

#include <bpf/bpf.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

#include "failure.h"

namespace stoq {
namespace {

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p below the first existing ancestor, which must itself be on bpffs.
void MakeParents(Napi::Env env, const std::string& dir, const std::string& target) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) return;
  if (errno != ENOENT) Throw(env, "stat", errno, dir);
  if (dir == "/" || dir == ".") Throw(env, "stat", ENOENT, dir);
  MakeParents(env, Parent(dir), target);
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) Throw(env, "mkdir", errno, dir);
}

void RequireBpffs(Napi::Env env, const std::string& dir, const std::string& op,
                  const std::string& path) {
  struct statfs fs;
  if (statfs(dir.c_str(), &fs) != 0) Throw(env, "statfs", errno, dir);
  if (fs.f_type != BPF_FS_MAGIC) {
    Failure f;
    f.op = op;
    f.err = EINVAL;
    f.target = path;
    f.detail = dir + " is not on a BPF filesystem (inside `ip netns exec` /sys/fs/bpf is not mounted)";
    Throw(env, f);
  }
}

}  // namespace

void PinFd(Napi::Env env, int fd, const std::string& path, const std::string& target) {
  std::string dir = Parent(path);
  MakeParents(env, dir, target);
  RequireBpffs(env, dir, "bpf_obj_pin", path);
  if (bpf_obj_pin(fd, path.c_str()) != 0) Throw(env, "bpf_obj_pin", errno, target + " -> " + path);
}

void Unpin(Napi::Env env, const std::string& path, const std::string& target) {
  RequireBpffs(env, Parent(path), "unpin", path);
  if (unlink(path.c_str()) != 0) Throw(env, "unlink", errno, target + " at " + path);
}

}  // namespace stoq
