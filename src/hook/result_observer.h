// Per-statement result observers: the place where masking rewrites cells and audit records
// what the client saw.
//
// An observer is created for one execution of one statement and called on the session's
// thread, in stream order: on_columns (when the protocol describes the columns), on_row for
// each row, then on_complete or on_error. Observers run in the order of Decision::observers;
// each sees the row as left by the ones before it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::hook {

struct ResultColumn {
  std::string name;
  std::uint32_t type_oid = 0;  // PostgreSQL type OID; other protocols map theirs
  bool binary = false;         // the cells arrive in a binary format
};

// One row: cells are views (nullopt is SQL NULL) into the wire buffer or into `owned`.
class Row {
 public:
  std::vector<std::optional<std::string_view>> cells;

  void replace(std::size_t i, std::optional<std::string> value) {
    if (value) {
      owned_.push_back(std::move(*value));
      cells[i] = std::string_view(owned_.back());
    } else {
      cells[i] = std::nullopt;
    }
    modified_ = true;
  }
  bool modified() const { return modified_; }
  void reset() {
    cells.clear();
    owned_.clear();
    modified_ = false;
  }

 private:
  std::deque<std::string> owned_;  // stable addresses for replaced values
  bool modified_ = false;
};

class ResultObserver {
 public:
  virtual ~ResultObserver() = default;
  virtual void on_columns(std::span<const ResultColumn> columns) { (void)columns; }
  virtual void on_row(Row& row) = 0;
  virtual void on_complete(std::string_view command_tag, std::uint64_t rows) {
    (void)command_tag;
    (void)rows;
  }
  virtual void on_error(std::string_view sqlstate, std::string_view message) {
    (void)sqlstate;
    (void)message;
  }
};

}  // namespace sluice::hook
