// The handle of one opened (and later loaded) BPF object file; programs and maps share its state.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>

namespace stoq {

// Outlives the JS handle while a program or map of the object is still referenced; close() empties it
// so every later use fails cleanly instead of touching a freed object.
struct ObjectState {
  bpf_object* obj = nullptr;
  std::string path;
  bool loaded = false;
  std::atomic<int> busy{0};  // async test runs in flight; close() refuses while they run

  ~ObjectState() {
    if (obj != nullptr) bpf_object__close(obj);
  }
};

// Throws unless the object is open and loaded; `what` names the caller for the message.
void RequireLoaded(Napi::Env env, const ObjectState& s, const std::string& what);

class BpfObjectWrap : public Napi::ObjectWrap<BpfObjectWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObjectWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value ProgramNames(const Napi::CallbackInfo& info);
  Napi::Value MapNames(const Napi::CallbackInfo& info);
  Napi::Value Program(const Napi::CallbackInfo& info);
  Napi::Value Map(const Napi::CallbackInfo& info);
  Napi::Value BtfStruct(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void SetRodata(Napi::Env env, Napi::Array entries);
  void SetMaxEntries(Napi::Env env, Napi::Array entries);

  std::shared_ptr<ObjectState> state_;
};

}  // namespace stoq
