// The ring-buffer consumer: a native thread drains a BPF ring buffer into batches and hands each batch
// to JS through a thread-safe function. Also a C-only drain, the reference the benchmark compares with.
#pragma once

#include <napi.h>

#include <memory>

namespace stoq {

struct ConsumerCore;

class RingConsumerWrap : public Napi::ObjectWrap<RingConsumerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RingConsumerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<ConsumerCore> core_;
};

// drainInC(map, count, timeoutMs) -> Promise<{ events, bytes, elapsedNs }>
Napi::Value DrainInC(const Napi::CallbackInfo& info);

}  // namespace stoq
