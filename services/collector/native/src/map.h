// The handle of one map, from a loaded object or opened from a pin: element and batch operations.
#pragma once

#include <bpf/bpf.h>
#include <napi.h>

#include <memory>
#include <string>

#include "object.h"

namespace stoq {

struct MapInit {
  std::shared_ptr<ObjectState> state;  // null for a map opened from a pin: the handle owns fd then
  int fd;
  std::string name;
};

class MapWrap : public Napi::ObjectWrap<MapWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit MapWrap(const Napi::CallbackInfo& info);
  ~MapWrap() override;

  // The map fd for a caller that keeps it only while this handle lives (the ring-buffer consumer dups it).
  int MapFd(Napi::Env env, const char* what);
  const std::string& Name() const { return name_; }
  __u32 Type() const { return info_.type; }
  __u32 MaxEntries() const { return info_.max_entries; }

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  Napi::Value UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Bytes of one value as the syscalls see it: per-CPU maps carry one 8-byte-aligned slot per CPU.
  size_t ValueLen() const { return per_cpu_ ? stride_ * n_cpus_ : info_.value_size; }
  const uint8_t* KeyArg(Napi::Env env, const Napi::Value& v, const char* op);

  std::shared_ptr<ObjectState> state_;
  int fd_ = -1;
  bool owns_fd_ = false;
  std::string name_;
  bpf_map_info info_{};
  bool per_cpu_ = false;
  size_t n_cpus_ = 1;
  size_t stride_ = 0;
};

// openPinnedMap(path): the map pinned at path; fails with EINVAL when something else is pinned there.
Napi::Value OpenPinnedMap(const Napi::CallbackInfo& info);

}  // namespace stoq
