// The handle of one program of a loaded object: attach, test-run, pin.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>
#include <string>

#include "object.h"

namespace stoq {

struct ProgramInit {
  std::shared_ptr<ObjectState> state;
  bpf_program* prog;
};

class ProgramWrap : public Napi::ObjectWrap<ProgramWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ProgramWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Name(const Napi::CallbackInfo& info);
  Napi::Value Type(const Napi::CallbackInfo& info);
  Napi::Value AttachXdp(const Napi::CallbackInfo& info);
  Napi::Value AttachTc(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value TestRunAsync(const Napi::CallbackInfo& info);
  Napi::Value Pin(const Napi::CallbackInfo& info);
  Napi::Value Unpin(const Napi::CallbackInfo& info);

  int ProgFd(Napi::Env env, const char* what);

  std::shared_ptr<ObjectState> state_;
  bpf_program* prog_;
  std::string name_;
};

}  // namespace stoq
