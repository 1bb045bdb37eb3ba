// Map element operations (lookup, update, delete, next key), batch operations, pinning, and opening a
// pinned map. Every length is checked here: the kernel reads key_size/value_size bytes from the pointers.
#include "map.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "addon.h"
#include "failure.h"
#include "pin.h"

namespace stoq {
namespace {

// A hash batch call fails with ENOSPC when one bucket holds more entries than the room left; this much
// extra room lets the last bucket in, so a batch may return slightly more than asked for.
constexpr uint32_t kBatchSlack = 64;

bool IsPerCpu(__u32 type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

Napi::Error Fail(Napi::Env env, const std::string& op, int err, const std::string& target,
                 const std::string& detail) {
  Failure f;
  f.op = op;
  f.err = err;
  f.target = target;
  f.detail = detail;
  return ToJsError(env, f);
}

// A pinned path may hold a program or a link; the fdinfo says what kind of object an fd refers to.
bool FdIsMap(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("map_type:", 0) == 0) return true;
  }
  return false;
}

}  // namespace

Napi::Function MapWrap::Define(Napi::Env env) {
  return DefineClass(env, "MapHandle",
                     {
                         InstanceAccessor<&MapWrap::Fd>("fd"),
                         InstanceMethod<&MapWrap::Info>("info"),
                         InstanceMethod<&MapWrap::Lookup>("lookup"),
                         InstanceMethod<&MapWrap::Update>("update"),
                         InstanceMethod<&MapWrap::Delete>("delete"),
                         InstanceMethod<&MapWrap::NextKey>("nextKey"),
                         InstanceMethod<&MapWrap::LookupBatch>("lookupBatch"),
                         InstanceMethod<&MapWrap::UpdateBatch>("updateBatch"),
                         InstanceMethod<&MapWrap::DeleteBatch>("deleteBatch"),
                         InstanceMethod<&MapWrap::Pin>("pin"),
                         InstanceMethod<&MapWrap::Unpin>("unpin"),
                         InstanceMethod<&MapWrap::Close>("close"),
                     });
}

MapWrap::MapWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<MapWrap>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "maps come from BpfObject.map() or openPinnedMap()");
  MapInit* init = info[0].As<Napi::External<MapInit>>().Data();
  state_ = init->state;
  fd_ = init->fd;
  owns_fd_ = state_ == nullptr;
  __u32 len = sizeof(info_);
  int err = bpf_obj_get_info_by_fd(fd_, &info_, &len);
  if (err != 0) {
    int e = ErrOf(err);
    if (owns_fd_) close(fd_);
    Throw(env, "bpf_obj_get_info_by_fd", e, init->name);
  }
  name_ = init->name.empty() ? info_.name : init->name;
  per_cpu_ = IsPerCpu(info_.type);
  stride_ = (static_cast<size_t>(info_.value_size) + 7) & ~size_t(7);
  if (per_cpu_) {
    int n = libbpf_num_possible_cpus();
    if (n <= 0) Throw(env, "libbpf_num_possible_cpus", ErrOf(n), name_);
    n_cpus_ = static_cast<size_t>(n);
  }
}

MapWrap::~MapWrap() {
  if (owns_fd_ && fd_ >= 0) close(fd_);
}

int MapWrap::MapFd(Napi::Env env, const char* what) {
  if (state_ != nullptr) {
    if (state_->obj == nullptr) throw Fail(env, what, EBADF, name_, "its object is closed");
  } else if (fd_ < 0) {
    throw Fail(env, what, EBADF, name_, "the map handle is closed");
  }
  return fd_;
}

const uint8_t* MapWrap::KeyArg(Napi::Env env, const Napi::Value& v, const char* op) {
  Napi::Buffer<uint8_t> key = v.As<Napi::Buffer<uint8_t>>();
  if (key.Length() != info_.key_size) {
    throw Fail(env, op, EINVAL, name_,
               "key is " + std::to_string(key.Length()) + " bytes, the map's keys are " +
                   std::to_string(info_.key_size));
  }
  return key.Data();
}

Napi::Value MapWrap::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), MapFd(info.Env(), "fd"));
}

Napi::Value MapWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const char* type = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(info_.type));
  o.Set("name", name_);
  o.Set("type", type != nullptr ? type : "unknown");
  o.Set("keySize", Napi::Number::New(env, info_.key_size));
  o.Set("valueSize", Napi::Number::New(env, info_.value_size));
  o.Set("maxEntries", Napi::Number::New(env, info_.max_entries));
  o.Set("flags", Napi::Number::New(env, info_.map_flags));
  o.Set("perCpu", Napi::Boolean::New(env, per_cpu_));
  o.Set("nCpus", Napi::Number::New(env, static_cast<double>(n_cpus_)));
  o.Set("valueStride", Napi::Number::New(env, static_cast<double>(per_cpu_ ? stride_ : info_.value_size)));
  return o;
}

// lookup(key) -> Buffer | null; per-CPU maps give all CPUs' slots in one buffer.
Napi::Value MapWrap::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_lookup_elem");
  const uint8_t* key = KeyArg(env, info[0], "bpf_map_lookup_elem");
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, ValueLen());
  if (bpf_map_lookup_elem(fd, key, value.Data()) != 0) {
    if (errno == ENOENT) return env.Null();
    Throw(env, "bpf_map_lookup_elem", errno, name_);
  }
  return value;
}

// update(key, value, flags: BPF_ANY | BPF_NOEXIST | BPF_EXIST)
Napi::Value MapWrap::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_update_elem");
  const uint8_t* key = KeyArg(env, info[0], "bpf_map_update_elem");
  Napi::Buffer<uint8_t> value = info[1].As<Napi::Buffer<uint8_t>>();
  if (value.Length() != ValueLen()) {
    throw Fail(env, "bpf_map_update_elem", EINVAL, name_,
               "value is " + std::to_string(value.Length()) + " bytes, the map takes " +
                   std::to_string(ValueLen()));
  }
  __u64 flags = info[2].As<Napi::Number>().Uint32Value();
  if (bpf_map_update_elem(fd, key, value.Data(), flags) != 0) Throw(env, "bpf_map_update_elem", errno, name_);
  return env.Undefined();
}

// delete(key) -> whether the key was there
Napi::Value MapWrap::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_delete_elem");
  const uint8_t* key = KeyArg(env, info[0], "bpf_map_delete_elem");
  if (bpf_map_delete_elem(fd, key) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    Throw(env, "bpf_map_delete_elem", errno, name_);
  }
  return Napi::Boolean::New(env, true);
}

// nextKey(key | null) -> the key after it (the first key for null), or null at the end
Napi::Value MapWrap::NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_get_next_key");
  const uint8_t* key = info[0].IsNull() ? nullptr : KeyArg(env, info[0], "bpf_map_get_next_key");
  Napi::Buffer<uint8_t> next = Napi::Buffer<uint8_t>::New(env, info_.key_size);
  if (bpf_map_get_next_key(fd, key, next.Data()) != 0) {
    if (errno == ENOENT) return env.Null();
    Throw(env, "bpf_map_get_next_key", errno, name_);
  }
  return next;
}

// lookupBatch(maxCount, andDelete) -> { keys, values, count }: keys and values packed back to back.
// maxCount 0 means the whole map. Several syscalls may be needed; the kernel says ENOENT at the end.
Napi::Value MapWrap::LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool del = info[1].As<Napi::Boolean>().Value();
  const char* op = del ? "bpf_map_lookup_and_delete_batch" : "bpf_map_lookup_batch";
  int fd = MapFd(env, op);
  uint32_t max_count = info[0].As<Napi::Number>().Uint32Value();
  if (max_count == 0) max_count = info_.max_entries;
  uint32_t cap = max_count + kBatchSlack;
  size_t ks = info_.key_size;
  size_t vl = ValueLen();
  Napi::Buffer<uint8_t> keys = Napi::Buffer<uint8_t>::New(env, cap * ks);
  Napi::Buffer<uint8_t> values = Napi::Buffer<uint8_t>::New(env, cap * vl);
  // Hash maps use a u32 bucket cursor, arrays a key: room for either.
  std::vector<uint8_t> in(std::max<size_t>(ks, 8)), out(in.size());
  bool first = true;
  uint32_t total = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t want = max_count;
  while (total < max_count) {
    uint32_t n = want - total;
    int err = del ? bpf_map_lookup_and_delete_batch(fd, first ? nullptr : in.data(), out.data(),
                                                   keys.Data() + total * ks, values.Data() + total * vl,
                                                   &n, &opts)
                  : bpf_map_lookup_batch(fd, first ? nullptr : in.data(), out.data(),
                                         keys.Data() + total * ks, values.Data() + total * vl, &n, &opts);
    int e = err != 0 ? ErrOf(err) : 0;
    if (e == 0 || e == ENOENT) total += n;
    if (e == ENOENT) break;
    if (e == ENOSPC && n == 0 && want < cap) {
      want = cap;
      continue;
    }
    if (e != 0) {
      throw Fail(env, op, e, name_, "after " + std::to_string(total) + " entries");
    }
    std::swap(in, out);
    first = false;
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("keys", keys);
  r.Set("values", values);
  r.Set("count", Napi::Number::New(env, total));
  return r;
}

// updateBatch(keys, values, count, flags): packed keys and values, as lookupBatch returns them
Napi::Value MapWrap::UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_update_batch");
  Napi::Buffer<uint8_t> keys = info[0].As<Napi::Buffer<uint8_t>>();
  Napi::Buffer<uint8_t> values = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t count = info[2].As<Napi::Number>().Uint32Value();
  if (keys.Length() != count * size_t(info_.key_size) || values.Length() != count * ValueLen()) {
    throw Fail(env, "bpf_map_update_batch", EINVAL, name_,
               "keys/values must be count * " + std::to_string(info_.key_size) + " / " +
                   std::to_string(ValueLen()) + " bytes");
  }
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = info[3].As<Napi::Number>().Uint32Value());
  uint32_t n = count;
  int err = bpf_map_update_batch(fd, keys.Data(), values.Data(), &n, &opts);
  if (err != 0) {
    throw Fail(env, "bpf_map_update_batch", ErrOf(err), name_,
               std::to_string(n) + " of " + std::to_string(count) + " entries written");
  }
  return env.Undefined();
}

// deleteBatch(keys, count): fails with ENOENT at the first key that is absent
Napi::Value MapWrap::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = MapFd(env, "bpf_map_delete_batch");
  Napi::Buffer<uint8_t> keys = info[0].As<Napi::Buffer<uint8_t>>();
  uint32_t count = info[1].As<Napi::Number>().Uint32Value();
  if (keys.Length() != count * size_t(info_.key_size)) {
    throw Fail(env, "bpf_map_delete_batch", EINVAL, name_,
               "keys must be count * " + std::to_string(info_.key_size) + " bytes");
  }
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  uint32_t n = count;
  int err = bpf_map_delete_batch(fd, keys.Data(), &n, &opts);
  if (err != 0) {
    throw Fail(env, "bpf_map_delete_batch", ErrOf(err), name_,
               std::to_string(n) + " of " + std::to_string(count) + " entries deleted");
  }
  return env.Undefined();
}

Napi::Value MapWrap::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PinFd(env, MapFd(env, "pin"), info[0].As<Napi::String>().Utf8Value(), name_);
  return env.Undefined();
}

Napi::Value MapWrap::Unpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  stoq::Unpin(env, info[0].As<Napi::String>().Utf8Value(), name_);
  return env.Undefined();
}

// Releases the fd of a map opened from a pin; a map of an object is released with its object.
Napi::Value MapWrap::Close(const Napi::CallbackInfo& info) {
  if (owns_fd_ && fd_ >= 0) close(fd_);
  if (owns_fd_) fd_ = -1;
  return info.Env().Undefined();
}

Napi::Value OpenPinnedMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) Throw(env, "bpf_obj_get", errno, path);
  if (!FdIsMap(fd)) {
    close(fd);
    throw Fail(env, "bpf_obj_get", EINVAL, path, "what is pinned there is not a map");
  }
  MapInit init{nullptr, fd, ""};
  return Data(env).map.New({Napi::External<MapInit>::New(env, &init)});
}

}  // namespace stoq
