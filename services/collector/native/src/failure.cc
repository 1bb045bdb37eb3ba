// libbpf log capture and the conversion of failures into JS errors carrying errno, operation and log.
#include "failure.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace stoq {
namespace {

// A verifier log can run to megabytes; the tail names the failing instruction, so keep that.
constexpr size_t kMaxCapture = 256 * 1024;

thread_local std::string* tl_sink = nullptr;
bool g_debug = false;

int Print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !g_debug) return 0;
  std::string* sink = tl_sink;
  if (sink == nullptr) {
    if (level == LIBBPF_INFO && !g_debug) return 0;
    return vfprintf(stderr, fmt, args);
  }
  va_list copy;
  va_copy(copy, args);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, args);
  if (n < 0) {
    va_end(copy);
    return n;
  }
  if (static_cast<size_t>(n) < sizeof small) {
    sink->append(small, n);
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    vsnprintf(big.data(), big.size(), fmt, copy);
    big.resize(n);
    sink->append(big);
  }
  va_end(copy);
  if (sink->size() > kMaxCapture) sink->erase(0, sink->size() - kMaxCapture);
  return n;
}

}  // namespace

void InstallLibbpfPrint() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* d = getenv("STOQ_LIBBPF_DEBUG");
    g_debug = d != nullptr && strcmp(d, "1") == 0;
    libbpf_set_print(Print);
  });
}

LogScope::LogScope() : outer_(tl_sink) { tl_sink = &text_; }

LogScope::~LogScope() {
  tl_sink = outer_;
  if (outer_ != nullptr) outer_->append(text_);
}

Napi::Error ToJsError(Napi::Env env, const Failure& f) {
  std::string msg = f.op;
  if (!f.target.empty()) msg += " (" + f.target + ")";
  msg += " failed: ";
  msg += strerror(f.err);
  if (!f.detail.empty()) msg += "; " + f.detail;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("bpfOp", Napi::String::New(env, f.op));
  e.Set("bpfErrno", Napi::Number::New(env, f.err));
  e.Set("bpfTarget", Napi::String::New(env, f.target));
  e.Set("bpfLog", Napi::String::New(env, f.log));
  return e;
}

void Throw(Napi::Env env, const Failure& f) { throw ToJsError(env, f); }

void Throw(Napi::Env env, const std::string& op, int err, const std::string& target,
           const LogScope* log) {
  Failure f;
  f.op = op;
  f.err = err;
  f.target = target;
  if (log != nullptr) f.log = log->Text();
  Throw(env, f);
}

}  // namespace stoq
