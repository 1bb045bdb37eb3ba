// Detaching links: close the link fd, or remove the netlink tc filter by handle and priority.
#include "link.h"

#include <unistd.h>

#include <cerrno>

#include "failure.h"

namespace stoq {

Napi::Function LinkWrap::Define(Napi::Env env) {
  return DefineClass(env, "LinkHandle",
                     {
                         InstanceMethod<&LinkWrap::Detach>("detach"),
                         InstanceAccessor<&LinkWrap::Description>("description"),
                     });
}

LinkWrap::LinkWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LinkWrap>(info) {
  if (!info[0].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "links come from BpfProgram.attachXdp/attachTc");
  }
  link_ = *info[0].As<Napi::External<LinkInit>>().Data();
  attached_ = true;
}

LinkWrap::~LinkWrap() { DetachNow(); }

int LinkWrap::DetachNow() {
  if (!attached_) return 0;
  attached_ = false;
  if (link_.kind == LinkInit::Kind::kFd) {
    return close(link_.fd) == 0 ? 0 : errno;
  }
  LIBBPF_OPTS(bpf_tc_opts, opts, .handle = link_.handle, .priority = link_.priority);
  int err = bpf_tc_detach(&link_.hook, &opts);
  // The filter is gone with its interface (a deleted veth, a namespace torn down): nothing to undo.
  if (err == -ENOENT || err == -ENODEV) return 0;
  return err < 0 ? -err : 0;
}

Napi::Value LinkWrap::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LogScope log;
  int err = DetachNow();
  if (err != 0) Throw(env, link_.kind == LinkInit::Kind::kFd ? "close(link)" : "bpf_tc_detach", err,
                      link_.description, &log);
  return env.Undefined();
}

Napi::Value LinkWrap::Description(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), link_.description);
}

}  // namespace stoq
