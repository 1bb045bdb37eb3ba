// Module entry of stoq_bpf.node: registers the handle classes and module functions that bpf.ts wraps.
#include <bpf/libbpf.h>
#include <napi.h>

#include "addon.h"
#include "failure.h"
#include "link.h"
#include "map.h"
#include "object.h"
#include "program.h"
#include "ringbuf.h"

namespace stoq {
namespace {

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), std::to_string(libbpf_major_version()) + "." +
                                           std::to_string(libbpf_minor_version()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  auto* data = new AddonData();
  data->program = Napi::Persistent(ProgramWrap::Define(env));
  data->map = Napi::Persistent(MapWrap::Define(env));
  data->link = Napi::Persistent(LinkWrap::Define(env));
  env.SetInstanceData(data);
  exports.Set("ObjectHandle", BpfObjectWrap::Define(env));
  exports.Set("RingConsumer", RingConsumerWrap::Define(env));
  exports.Set("openPinnedMap", Napi::Function::New<OpenPinnedMap>(env, "openPinnedMap"));
  exports.Set("drainInC", Napi::Function::New<DrainInC>(env, "drainInC"));
  exports.Set("libbpfVersion", Napi::Function::New<LibbpfVersion>(env, "libbpfVersion"));
  return exports;
}

}  // namespace
}  // namespace stoq

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return stoq::Init(env, exports); }

NODE_API_MODULE(stoq_bpf, InitModule)
