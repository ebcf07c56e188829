#include "ir/attr.h"

#include <cmath>
#include <sstream>

namespace ferry {
namespace {

template <class T>
std::string join(const std::vector<T>& items) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out << ", ";
    if constexpr (std::is_same_v<T, std::string>) {
      out << '"' << items[i] << '"';
    } else {
      out << items[i];
    }
  }
  out << "]";
  return out.str();
}

std::string type_name(const Attr& attr) {
  static const char* kNames[] = {"None", "bool",  "int",     "float",
                                 "str",  "int[]", "float[]", "str[]"};
  return kNames[attr.index()];
}

}  // namespace

std::string attr_to_string(const Attr& attr) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "None";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<T, double>) {
          std::ostringstream out;
          out.precision(9);
          out << v;
          return out.str();
        } else if constexpr (std::is_same_v<T, std::string>) {
          return '"' + v + '"';
        } else {
          return join(v);
        }
      },
      attr);
}

const Attr* Attrs::find(const std::string& name) const {
  for (const auto& [key, value] : items_) {
    if (key == name) return &value;
  }
  return nullptr;
}

const Attr& Attrs::at(const std::string& name) const {
  const Attr* attr = find(name);
  if (!attr) throw AttrError("missing attribute '" + name + "'");
  return *attr;
}

bool Attrs::is_none(const std::string& name) const {
  const Attr* attr = find(name);
  return !attr || std::holds_alternative<std::monostate>(*attr);
}

void Attrs::set(const std::string& name, Attr value) {
  for (auto& [key, existing] : items_) {
    if (key == name) {
      existing = std::move(value);
      return;
    }
  }
  items_.emplace_back(name, std::move(value));
}

void Attrs::erase(const std::string& name) {
  std::erase_if(items_, [&](const auto& item) { return item.first == name; });
}

bool Attrs::get_bool(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<bool>(&attr)) return *v;
  if (auto* v = std::get_if<int64_t>(&attr)) return *v != 0;
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected bool");
}

int64_t Attrs::get_int(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<int64_t>(&attr)) return *v;
  if (auto* v = std::get_if<bool>(&attr)) return *v;
  if (auto* v = std::get_if<double>(&attr); v && std::floor(*v) == *v) {
    return static_cast<int64_t>(*v);
  }
  if (auto* v = std::get_if<std::vector<int64_t>>(&attr); v && v->size() == 1) return (*v)[0];
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected int");
}

double Attrs::get_float(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<double>(&attr)) return *v;
  if (auto* v = std::get_if<int64_t>(&attr)) return static_cast<double>(*v);
  if (auto* v = std::get_if<bool>(&attr)) return *v ? 1.0 : 0.0;
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected float");
}

const std::string& Attrs::get_string(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<std::string>(&attr)) return *v;
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected str");
}

std::vector<int64_t> Attrs::get_ints(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<std::vector<int64_t>>(&attr)) return *v;
  if (auto* v = std::get_if<int64_t>(&attr)) return {*v};
  if (std::holds_alternative<std::vector<double>>(attr) ||
      std::holds_alternative<std::vector<std::string>>(attr)) {
    // An empty Python list arrives as whichever list type the binding picked.
    if (std::visit(
            [](const auto& x) {
              if constexpr (requires { x.empty(); }) return x.empty();
              return false;
            },
            attr)) {
      return {};
    }
  }
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected int[]");
}

std::vector<double> Attrs::get_floats(const std::string& name) const {
  const Attr& attr = at(name);
  if (auto* v = std::get_if<std::vector<double>>(&attr)) return *v;
  if (auto* v = std::get_if<std::vector<int64_t>>(&attr)) return {v->begin(), v->end()};
  if (auto* v = std::get_if<double>(&attr)) return {*v};
  if (auto* v = std::get_if<int64_t>(&attr)) return {static_cast<double>(*v)};
  throw AttrError("attribute '" + name + "' is " + type_name(attr) + ", expected float[]");
}

}  // namespace ferry
