// Status and Result<T>: the error currency of Sluice.
//
// Expected failures (bad input, refused access, an unreachable upstream) are values, never
// exceptions: the data path does not throw. A Status carries a Code with a printable name and
// a message written for the person who has to act on it. Messages must never contain secrets.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

enum class Code : unsigned char {
  ok,
  invalid_argument,     // the caller's input is malformed
  not_found,            // the named thing does not exist
  already_exists,       // a unique thing exists already
  permission_denied,    // authenticated but not allowed
  unauthenticated,      // credential missing or wrong
  unavailable,          // a dependency (upstream, store) cannot be reached
  deadline_exceeded,    // a timeout fired
  failed_precondition,  // the system is not in a state that allows this
  protocol_violation,   // a peer broke the wire protocol
  resource_exhausted,   // a limit was hit
  io_error,             // the operating system said no
  internal,             // a bug: an invariant did not hold
};

constexpr std::string_view code_name(Code c) {
  switch (c) {
    case Code::ok:
      return "ok";
    case Code::invalid_argument:
      return "invalid_argument";
    case Code::not_found:
      return "not_found";
    case Code::already_exists:
      return "already_exists";
    case Code::permission_denied:
      return "permission_denied";
    case Code::unauthenticated:
      return "unauthenticated";
    case Code::unavailable:
      return "unavailable";
    case Code::deadline_exceeded:
      return "deadline_exceeded";
    case Code::failed_precondition:
      return "failed_precondition";
    case Code::protocol_violation:
      return "protocol_violation";
    case Code::resource_exhausted:
      return "resource_exhausted";
    case Code::io_error:
      return "io_error";
    case Code::internal:
      return "internal";
  }
  return "unknown";
}

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::ok; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const {
    return is_ok() ? "ok" : std::string(code_name(code_)) + ": " + message_;
  }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

inline Status error(Code code, std::string message) {
  return {code, std::move(message)};
}

// Result<T> holds either a T or a failed Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    assert(!std::get<Status>(v_).is_ok() && "a Result cannot hold an ok Status");
  }

  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Status& status() const& {
    static const Status kOk;
    return is_ok() ? kOk : std::get<1>(v_);
  }
  Status&& take_status() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace sluice

// Propagate a failed Status from an expression returning Status.
#define SLUICE_TRY(expr)                                        \
  do {                                                          \
    ::sluice::Status sluice_try_status_ = (expr);               \
    if (!sluice_try_status_.is_ok()) return sluice_try_status_; \
  } while (0)
