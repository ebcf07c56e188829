#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ferry {

// A typed attribute value. `std::monostate` is an explicit None (PyTorch's `bias=None`).
using Attr = std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<int64_t>,
                          std::vector<double>, std::vector<std::string>>;

std::string attr_to_string(const Attr& attr);

// Named attributes in insertion order, so dumps and emitted files are deterministic.
class Attrs {
 public:
  bool has(const std::string& name) const { return find(name) != nullptr; }
  bool is_none(const std::string& name) const;
  const Attr& at(const std::string& name) const;
  void set(const std::string& name, Attr value);
  void erase(const std::string& name);

  // Typed reads. An int attribute reads as double; a scalar int reads as a one-element list
  // (PyTorch accepts `stride=2` for `stride=(2, 2)`; expansion to rank is the caller's job).
  bool get_bool(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;
  const std::string& get_string(const std::string& name) const;
  std::vector<int64_t> get_ints(const std::string& name) const;
  std::vector<double> get_floats(const std::string& name) const;

  const std::vector<std::pair<std::string, Attr>>& items() const { return items_; }
  bool operator==(const Attrs& other) const = default;

 private:
  const Attr* find(const std::string& name) const;
  std::vector<std::pair<std::string, Attr>> items_;
};

class AttrError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ferry
