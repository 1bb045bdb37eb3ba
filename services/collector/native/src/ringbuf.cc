// Ring-buffer consumer. The thread waits on its own epoll set (the ring's epoll fd plus an eventfd) so
// close() wakes it at once instead of waiting out a ring_buffer__poll timeout; after every wakeup, and
// on a timer for producers that submit with BPF_RB_NO_WAKEUP, it drains with ring_buffer__consume.
//
// A batch crossing to JS: `data` holds the events back to back, each starting 8-byte aligned (so typed
// arrays can view them); `offsets` holds [start, end) pairs, one per event, in ring order.
#include "ringbuf.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "failure.h"
#include "map.h"

namespace stoq {
namespace {

// A batch is handed over at maxBatch events or at this many bytes, whichever comes first.
constexpr size_t kMaxBatchBytes = 4 << 20;
constexpr size_t kMinBatchAlloc = 64 << 10;
// Batches queued for JS before the thread blocks; past it the kernel ring fills and the program counts
// its failed reservations, which is the only place an event may then be lost.
constexpr size_t kMaxQueuedBatches = 32;

struct Delivery {
  uint8_t* data = nullptr;
  size_t bytes = 0;
  std::vector<uint32_t> offsets;
  std::optional<Failure> failure;

  ~Delivery() { free(data); }
};

size_t Align8(size_t n) { return (n + 7) & ~size_t(7); }

Napi::Error Fail(Napi::Env env, const std::string& op, int err, const std::string& target,
                 const std::string& detail) {
  Failure f;
  f.op = op;
  f.err = err;
  f.target = target;
  f.detail = detail;
  return ToJsError(env, f);
}

void CallJs(Napi::Env env, Napi::Function cb, ConsumerCore* core, Delivery* d);

}  // namespace

using Tsfn = Napi::TypedThreadSafeFunction<ConsumerCore, Delivery, CallJs>;

struct ConsumerCore {
  std::string name;
  int map_fd = -1;  // a dup: the ring outlives a close() of the object that owns the map
  ring_buffer* rb = nullptr;
  int ep_fd = -1;
  int wake_fd = -1;
  int wait_ms = 10;
  uint32_t max_batch = 4096;
  size_t ring_bytes = 0;
  std::thread thread;
  std::atomic<bool> stop{false};
  Tsfn tsfn;

  // Consumer thread only.
  uint8_t* buf = nullptr;
  size_t cap = 0;
  size_t used = 0;
  std::vector<uint32_t> offsets;
  size_t last_used = 0;
  bool stopping = false;       // stop seen inside a drain
  long long stop_budget = 0;   // bytes still drained after stop: bounded by one ring's worth
  bool js_gone = false;        // the thread-safe function is closing (env teardown)

  // Main thread only.
  std::optional<Napi::Promise::Deferred> close_deferred;
  bool finished = false;

  ~ConsumerCore() {
    if (rb != nullptr) ring_buffer__free(rb);
    if (ep_fd >= 0) close(ep_fd);
    if (wake_fd >= 0) close(wake_fd);
    if (map_fd >= 0) close(map_fd);
    free(buf);
  }

  void Wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd, &one, sizeof one);
    (void)ignored;  // a full eventfd counter is still readable, which is all the thread needs
  }

  // Hands the batch under construction to JS; false once JS can no longer take batches.
  bool Flush() {
    if (offsets.empty()) return true;
    auto* d = new Delivery();
    d->data = buf;
    d->bytes = used;
    d->offsets.swap(offsets);
    last_used = used;
    buf = nullptr;
    cap = 0;
    used = 0;
    offsets.reserve(2 * size_t(max_batch));
    if (tsfn.BlockingCall(d) != napi_ok) {
      delete d;
      js_gone = true;
      return false;
    }
    return true;
  }

  void Report(const std::string& op, int err, const LogScope& log) {
    auto* d = new Delivery();
    d->failure = Failure{op, err, name, "the consumer has stopped", log.Text()};
    if (tsfn.BlockingCall(d) != napi_ok) delete d;
  }

  static int OnSample(void* ctx, void* data, size_t size) {
    auto* c = static_cast<ConsumerCore*>(ctx);
    size_t start = Align8(c->used);
    if (start + size > c->cap) {
      size_t want = std::max({start + size, c->cap * 2, kMinBatchAlloc, c->last_used + c->last_used / 4});
      auto* grown = static_cast<uint8_t*>(realloc(c->buf, want));
      if (grown == nullptr) return -ENOMEM;
      c->buf = grown;
      c->cap = want;
    }
    memcpy(c->buf + start, data, size);
    c->used = start + size;
    c->offsets.push_back(static_cast<uint32_t>(start));
    c->offsets.push_back(static_cast<uint32_t>(c->used));
    if (c->offsets.size() >= 2 * size_t(c->max_batch) || c->used >= kMaxBatchBytes) {
      if (!c->Flush()) return -ECANCELED;
    }
    // A producer that never pauses would keep one consume call going forever: after close() take at
    // most what a full ring holds, then stop.
    if (!c->stopping && c->stop.load(std::memory_order_relaxed)) {
      c->stopping = true;
      c->stop_budget = static_cast<long long>(c->ring_bytes);
    }
    if (c->stopping && (c->stop_budget -= static_cast<long long>(size + 8)) <= 0) return -ECANCELED;
    return 0;
  }

  void Run() {
    LogScope log;
    epoll_event events[2];
    while (!stop.load(std::memory_order_acquire) && !js_gone) {
      int n = epoll_wait(ep_fd, events, 2, wait_ms);
      if (n < 0 && errno != EINTR) {
        Report("epoll_wait", errno, log);
        break;
      }
      int r = ring_buffer__consume(rb);
      if (r < 0 && r != -ECANCELED && r != -EINTR) {
        Report("ring_buffer__consume", -r, log);
        break;
      }
      if (!Flush()) break;
    }
    if (!js_gone) {
      ring_buffer__consume(rb);
      Flush();
    }
    tsfn.Release();
  }
};

namespace {

void CallJs(Napi::Env env, Napi::Function cb, ConsumerCore*, Delivery* d) {
  std::unique_ptr<Delivery> owned(d);
  if (env == nullptr || cb == nullptr) return;
  try {
    if (d->failure) {
      cb.Call({env.Null(), env.Null(), ToJsError(env, *d->failure).Value()});
      return;
    }
    size_t n = d->offsets.size();
    Napi::Uint32Array offsets = Napi::Uint32Array::New(env, n);
    memcpy(offsets.Data(), d->offsets.data(), n * sizeof(uint32_t));
    uint8_t* data = d->data;
    d->data = nullptr;  // the JS buffer owns it now
    Napi::Buffer<uint8_t> buf =
        Napi::Buffer<uint8_t>::NewOrCopy(env, data, d->bytes, [](Napi::Env, uint8_t* p) { free(p); });
    cb.Call({buf, offsets});
  } catch (const Napi::Error& e) {
    // Raised as an uncaught exception, as a throwing event listener would be.
    napi_fatal_exception(env, e.Value());
  }
}

void FinalizeConsumer(Napi::Env env, std::shared_ptr<ConsumerCore>* holder, ConsumerCore* c) {
  c->stop.store(true, std::memory_order_release);
  c->Wake();
  if (c->thread.joinable()) c->thread.join();
  c->finished = true;
  if (c->close_deferred && env != nullptr) {
    try {
      c->close_deferred->Resolve(env.Undefined());
    } catch (const Napi::Error&) {
      // The environment is being torn down: nobody is left to await the promise.
    }
  }
  c->close_deferred.reset();
  delete holder;
}

}  // namespace

Napi::Function RingConsumerWrap::Define(Napi::Env env) {
  return DefineClass(env, "RingConsumer", {InstanceMethod<&RingConsumerWrap::Close>("close")});
}

// new RingConsumer(map, callback(data, offsets) | callback(null, null, error), waitMs, maxBatch)
RingConsumerWrap::RingConsumerWrap(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<RingConsumerWrap>(info), core_(std::make_shared<ConsumerCore>()) {
  Napi::Env env = info.Env();
  MapWrap* map = MapWrap::Unwrap(info[0].As<Napi::Object>());
  Napi::Function callback = info[1].As<Napi::Function>();
  core_->wait_ms = static_cast<int>(info[2].As<Napi::Number>().Int32Value());
  core_->max_batch = std::max<uint32_t>(1, info[3].As<Napi::Number>().Uint32Value());
  core_->offsets.reserve(2 * size_t(core_->max_batch));
  core_->name = map->Name();
  if (map->Type() != BPF_MAP_TYPE_RINGBUF) {
    throw Fail(env, "ring_buffer__new", EINVAL, core_->name, "the map is not a BPF_MAP_TYPE_RINGBUF");
  }
  core_->ring_bytes = map->MaxEntries();

  LogScope log;
  core_->map_fd = fcntl(map->MapFd(env, "ring_buffer__new"), F_DUPFD_CLOEXEC, 0);
  if (core_->map_fd < 0) Throw(env, "fcntl(F_DUPFD_CLOEXEC)", errno, core_->name);
  core_->rb = ring_buffer__new(core_->map_fd, &ConsumerCore::OnSample, core_.get(), nullptr);
  if (core_->rb == nullptr) Throw(env, "ring_buffer__new", errno, core_->name, &log);
  core_->ep_fd = epoll_create1(EPOLL_CLOEXEC);
  if (core_->ep_fd < 0) Throw(env, "epoll_create1", errno, core_->name);
  core_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (core_->wake_fd < 0) Throw(env, "eventfd", errno, core_->name);
  epoll_event ev{};
  ev.events = EPOLLIN;
  for (int fd : {ring_buffer__epoll_fd(core_->rb), core_->wake_fd}) {
    ev.data.fd = fd;
    if (epoll_ctl(core_->ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) Throw(env, "epoll_ctl", errno, core_->name);
  }

  auto* holder = new std::shared_ptr<ConsumerCore>(core_);
  core_->tsfn = Tsfn::New(env, callback, "stoq-ringbuf", kMaxQueuedBatches, 1, core_.get(), FinalizeConsumer, holder);
  ConsumerCore* c = core_.get();
  core_->thread = std::thread([c] { c->Run(); });
}

// close() -> Promise resolved once the thread has drained, stopped and been joined, and every batch it
// produced has been delivered.
Napi::Value RingConsumerWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (core_->finished) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  if (core_->close_deferred) throw Fail(env, "close", EALREADY, core_->name, "close() already called");
  core_->close_deferred = deferred;
  core_->stop.store(true, std::memory_order_release);
  core_->Wake();
  return deferred.Promise();
}

namespace {

// The benchmark's reference: the same drain and copy into a batch, with no hand-over to JS.
class DrainWorker : public Napi::AsyncWorker {
 public:
  DrainWorker(Napi::Env env, int fd, std::string name, uint64_t target, int timeout_ms)
      : Napi::AsyncWorker(env, "stoq-ringbuf-drain"),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        name_(std::move(name)),
        target_(target),
        timeout_ms_(timeout_ms) {}
  ~DrainWorker() override { close(fd_); }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    LogScope log;
    ring_buffer* rb = ring_buffer__new(fd_, &DrainWorker::OnSample, this, nullptr);
    if (rb == nullptr) {
      failure_ = Failure{"ring_buffer__new", errno, name_, "", log.Text()};
      SetError("ring_buffer__new");
      return;
    }
    scratch_.resize(kMaxBatchBytes + 65536);
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::milliseconds(timeout_ms_);
    while (events_ < target_ && std::chrono::steady_clock::now() < deadline) {
      ring_buffer__poll(rb, 5);
      ring_buffer__consume(rb);
    }
    elapsed_ns_ = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    ring_buffer__free(rb);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("events", Napi::Number::New(env, static_cast<double>(events_)));
    r.Set("bytes", Napi::Number::New(env, static_cast<double>(bytes_)));
    r.Set("elapsedNs", Napi::Number::New(env, elapsed_ns_));
    deferred_.Resolve(r);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(ToJsError(Env(), failure_).Value()); }

 private:
  static int OnSample(void* ctx, void* data, size_t size) {
    auto* w = static_cast<DrainWorker*>(ctx);
    size_t start = Align8(w->used_);
    if (start + size > w->scratch_.size()) start = 0;
    memcpy(w->scratch_.data() + start, data, size);
    w->used_ = start + size;
    w->events_++;
    w->bytes_ += size;
    return 0;
  }

  Napi::Promise::Deferred deferred_;
  int fd_;
  std::string name_;
  uint64_t target_;
  int timeout_ms_;
  std::vector<uint8_t> scratch_;
  size_t used_ = 0;
  uint64_t events_ = 0;
  uint64_t bytes_ = 0;
  double elapsed_ns_ = 0;
  Failure failure_;
};

}  // namespace

Napi::Value DrainInC(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapWrap* map = MapWrap::Unwrap(info[0].As<Napi::Object>());
  auto target = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
  int timeout_ms = info[2].As<Napi::Number>().Int32Value();
  int fd = fcntl(map->MapFd(env, "ring_buffer__new"), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) Throw(env, "fcntl(F_DUPFD_CLOEXEC)", errno, map->Name());
  auto* worker = new DrainWorker(env, fd, map->Name(), target, timeout_ms);
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace stoq
