// The Python face of the core: build a Trace, convert it, read back the TF-level graph.
// Thin on purpose; all decisions live in the core.
#include <fcntl.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "bindings/arrays.h"
#include "import/trace.h"
#include "ir/dump.h"
#include "ir/resample.h"
#include "layout/op_layout.h"
#include "lower/rules.h"
#include "passes/pipeline.h"
#include "tflite/op_table.h"
#include "tflite/reader.h"
#include "tflite/writer.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace ferry::bindings {
namespace {

const Registry& registry() {
  static const Registry kRegistry = [] {
    Registry r;
    register_all(r);
    return r;
  }();
  return kRegistry;
}

Attr attr_from_python(nb::handle obj) {
  if (obj.is_none()) return std::monostate{};
  if (nb::isinstance<nb::bool_>(obj)) return nb::cast<bool>(obj);
  if (nb::isinstance<nb::int_>(obj)) return nb::cast<int64_t>(obj);
  if (nb::isinstance<nb::float_>(obj)) return nb::cast<double>(obj);
  if (nb::isinstance<nb::str>(obj)) return nb::cast<std::string>(obj);
  if (nb::isinstance<nb::list>(obj) || nb::isinstance<nb::tuple>(obj)) {
    bool all_int = true, all_num = true, all_str = true;
    for (nb::handle item : obj) {
      bool is_int = nb::isinstance<nb::int_>(item);  // bool is an int in Python
      bool is_num = is_int || nb::isinstance<nb::float_>(item);
      all_int &= is_int;
      all_num &= is_num;
      all_str &= nb::isinstance<nb::str>(item);
    }
    if (all_int) {
      std::vector<int64_t> v;
      for (nb::handle item : obj) v.push_back(nb::cast<int64_t>(item));
      return v;
    }
    if (all_num) {
      std::vector<double> v;
      for (nb::handle item : obj) v.push_back(nb::cast<double>(item));
      return v;
    }
    if (all_str) {
      std::vector<std::string> v;
      for (nb::handle item : obj) v.push_back(nb::cast<std::string>(item));
      return v;
    }
  }
  throw nb::type_error(("cannot pass attribute of type " +
                        nb::cast<std::string>(nb::str(obj.type())) + " to the core")
                           .c_str());
}

nb::object attr_to_python(const Attr& attr) {
  return std::visit(
      [](const auto& v) -> nb::object {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nb::none();
        } else {
          return nb::cast(v);
        }
      },
      attr);
}

TraceKind kind_from_name(const std::string& name) {
  if (name == "module") return TraceKind::kModule;
  if (name == "function") return TraceKind::kFunction;
  if (name == "aten") return TraceKind::kAten;
  throw nb::value_error(("unknown trace node kind '" + name + "'").c_str());
}

OrderRequest order_from_name(const std::string& name) {
  if (name == "pytorch") return OrderRequest::kPyTorch;
  if (name == "tensorflow") return OrderRequest::kTensorFlow;
  if (name == "as_is") return OrderRequest::kAsIs;
  throw nb::value_error(("unknown channel order '" + name + "'").c_str());
}

void add_value(Trace& t, int64_t id, const std::string& dtype, Shape shape, bool is_input,
               const std::string& name, int64_t producer) {
  if (id != static_cast<int64_t>(t.values.size())) throw nb::value_error("value ids must be dense");
  TraceValue v;
  v.id = id;
  v.dtype = dtype_from_name(dtype);
  v.shape = std::move(shape);
  v.is_input = is_input;
  v.name = name;
  v.producer = producer;
  t.values.push_back(std::move(v));
}

SymbolTable& symbols_of(Trace& t) {
  if (!t.symbols) t.symbols = std::make_shared<SymbolTable>();
  return *t.symbols;
}

DimOp dim_op_from_name(const std::string& name) {
  if (name == "sym") return DimOp::kSymbol;
  if (name == "add") return DimOp::kAdd;
  if (name == "mul") return DimOp::kMul;
  if (name == "floordiv") return DimOp::kFloorDiv;
  if (name == "mod") return DimOp::kMod;
  if (name == "max") return DimOp::kMax;
  if (name == "min") return DimOp::kMin;
  throw nb::value_error(("unknown size operation '" + name + "'").c_str());
}

// args: (is_expression, value) pairs; for "sym", one pair holding the symbol's index.
int32_t add_dim_expr(Trace& t, const std::string& op,
                     const std::vector<std::pair<bool, int64_t>>& args) {
  DimExpr e;
  e.op = dim_op_from_name(op);
  if (e.op == DimOp::kSymbol) {
    if (args.size() != 1) throw nb::value_error("a symbol takes one operand");
    e.symbol = args[0].second;
  } else {
    for (const auto& [is_expr, value] : args) {
      DimOperand a;
      if (is_expr)
        a.expr = static_cast<int32_t>(value);
      else
        a.constant = value;
      e.args.push_back(a);
    }
  }
  try {
    return symbols_of(t).add(std::move(e));
  } catch (const std::invalid_argument& error) {
    throw nb::value_error(error.what());
  }
}

void add_node(Trace& t, int64_t id, const std::string& kind, const std::string& op,
              const std::string& scope, int64_t parent, nb::list args, std::vector<int64_t> outputs,
              int64_t user_converter, const std::string& user_strategy) {
  if (id != static_cast<int64_t>(t.nodes.size())) throw nb::value_error("node ids must be dense");
  TraceNode n;
  n.id = id;
  n.kind = kind_from_name(kind);
  n.op = op;
  n.scope = scope;
  n.parent = parent;
  // args: (name, tensor ids, is_tensor_list, constant value)
  for (nb::handle item : args) {
    auto tup = nb::cast<nb::tuple>(item);
    TraceArg arg;
    arg.name = nb::cast<std::string>(tup[0]);
    arg.tensors = nb::cast<std::vector<int64_t>>(tup[1]);
    arg.is_tensor_list = nb::cast<bool>(tup[2]);
    arg.value = attr_from_python(tup[3]);
    n.args.push_back(std::move(arg));
  }
  n.outputs = std::move(outputs);
  n.user_converter = user_converter;
  n.user_strategy = user_strategy;
  if (parent >= 0)
    t.nodes.at(parent).children.push_back(id);
  else
    t.roots.push_back(id);
  t.nodes.push_back(std::move(n));
}

nb::list problems(const std::vector<ImportProblem>& items) {
  nb::list out;
  for (const auto& p : items) out.append(nb::make_tuple(p.node, p.message));
  return out;
}

// The final graph as plain Python data: (values, nodes, inputs, outputs, names). Without
// `constants`, constant values carry no array (reading one would materialise lazily
// permuted weights, which the TFLite writer streams from the parameters instead).
nb::dict graph_to_python(const Graph& g, bool constants) {
  std::unordered_set<const Value*> used(g.inputs.begin(), g.inputs.end());
  used.insert(g.outputs.begin(), g.outputs.end());
  nb::list nodes;
  for (const Node* n : g.nodes()) {
    nb::list inputs, outputs;
    for (const Value* v : n->inputs) {
      inputs.append(v ? v->id : -1);
      if (v) used.insert(v);
    }
    for (const Value* v : n->outputs) {
      outputs.append(v->id);
      used.insert(v);
    }
    nb::dict attrs;
    for (const auto& [name, attr] : n->attrs.items()) attrs[name.c_str()] = attr_to_python(attr);
    nb::list bodies;  // control flow: (role, graph) of each function the node runs
    for (const Body& body : n->bodies)
      if (body.graph)
        bodies.append(nb::make_tuple(body.role, graph_to_python(*body.graph, constants)));
    nodes.append(nb::make_tuple(n->id, n->op, inputs, outputs, attrs, n->scope, n->origin, bodies));
  }
  nb::list values;
  for (const auto& v : g.values()) {
    if (!used.count(v.get())) continue;
    Shape physical = v->physical_shape();
    nb::object constant = v->constant && constants ? to_numpy(v->constant, physical) : nb::none();
    std::vector<int64_t> perm = v->layout == Layout::kFixed
                                    ? layout_perm(Layout::kPyTorch, v->rank())
                                    : layout_perm(v->layout, v->rank());
    std::vector<bool> free;  // physical dims whose size follows a free input dim
    for (int32_t s : v->physical_sym()) free.push_back(s >= 0);
    values.append(nb::make_tuple(v->id, std::string(dtype_name(v->dtype)), physical, perm, constant,
                                 v->name, v->origin, v->constant != nullptr, free));
  }
  nb::list inputs, outputs;
  for (const Value* v : g.inputs) inputs.append(v->id);
  for (const Value* v : g.outputs) outputs.append(v->id);
  nb::dict out;
  out["values"] = values;
  out["nodes"] = nodes;
  out["inputs"] = inputs;
  out["outputs"] = outputs;
  out["input_names"] = g.input_names;
  out["output_names"] = g.output_names;
  return out;
}

nb::dict run_convert(const Trace& trace, std::vector<std::string> disabled,
                     std::vector<std::string> input_orders, std::vector<std::string> output_orders,
                     bool keep_dumps, bool tflite = false, std::string tflite_path = "",
                     bool float16 = false, std::string placement = "auto",
                     std::string recurrent = "", bool int8_weights = false,
                     std::vector<std::string> keep_float = {}, int64_t int8_tensors = -1,
                     std::vector<std::tuple<int32_t, float, float>> int8_ranges = {},
                     std::string int8_io = "float32", bool recurrent_chosen = true,
                     bool int16_activations = false,
                     std::vector<std::tuple<int32_t, float, int32_t>> int8_fixed = {},
                     std::vector<std::pair<int32_t, std::vector<float>>> kernel_scales = {},
                     bool model_scales_only = false) {
  // Disabling one spelling of an op disables its rule under every spelling.
  std::unordered_set<const Rule*> off;
  for (const auto& op : disabled) {
    if (const Rule* r = registry().find(op)) off.insert(r);
  }
  auto has_rule = [&](const std::string& op) {
    const Rule* r = registry().find(op);
    return r && !off.count(r);
  };
  ConvertOptions options;
  for (const auto& o : input_orders) options.layout.inputs.push_back(order_from_name(o));
  for (const auto& o : output_orders) options.layout.outputs.push_back(order_from_name(o));
  options.keep_dumps = keep_dumps;
  ConvertResult r = convert(trace, registry(), has_rule, options);

  nb::dict out;
  out["converted"] = r.imported.converted;
  out["unused"] = r.imported.unused;
  out["unsupported"] = problems(r.imported.unsupported);
  out["errors"] = problems(r.errors);
  out["dumps"] = r.dumps;
  out["transposes"] = nb::make_tuple(r.transposes.count, r.transposes.bytes);
  out["transposes_node_by_node"] =
      nb::make_tuple(r.transposes_node_by_node.count, r.transposes_node_by_node.bytes);
  nb::dict solve;
  solve["variables"] = r.solve.variables;
  solve["cost"] = r.solve.cost;
  solve["all_pytorch_cost"] = r.solve.all_pytorch_cost;
  solve["exact"] = r.solve.exact;
  solve["method"] = r.solve.method;
  out["layout"] = solve;
  out["seconds"] = r.seconds;
  out["graph"] = r.graph ? nb::object(graph_to_python(*r.graph, !tflite)) : nb::none();
  if (tflite && r.graph) {
    // A graph the writer cannot express is reported, not raised: Python names the op.
    tflite::WriteOptions write;
    write.float16_weights = float16;
    write.int8_weights = int8_weights;
    write.keep_float = std::move(keep_float);
    if (int8_tensors >= 0) {
      // Full integer: ranges observed on the float file this same call wrote before.
      tflite::Int8Activations q;
      q.tensors = static_cast<size_t>(int8_tensors);
      for (const auto& [t, lo, hi] : int8_ranges) q.ranges.push_back({t, {lo, hi}});
      if (int8_io == "int8")
        q.io = tflite::IoType::kInt8;
      else if (int8_io == "uint8")
        q.io = tflite::IoType::kUInt8;
      else if (int8_io != "float32")
        throw nb::value_error(("unknown int8 io type '" + int8_io + "'").c_str());
      q.int16 = int16_activations;
      for (const auto& [t, scale, zero] : int8_fixed) q.fixed.push_back({t, {scale, zero}});
      q.kernel_scales = std::move(kernel_scales);
      q.model_scales_only = model_scales_only;
      write.int8 = std::move(q);
    }
    if (placement == "inline")
      write.placement = tflite::BufferPlacement::kInline;
    else if (placement == "external")
      write.placement = tflite::BufferPlacement::kExternal;
    else if (placement != "auto")
      throw nb::value_error(("unknown buffer placement '" + placement + "'").c_str());
    // "" is the default form, chosen by no one: only an explicit choice warns when unused.
    write.recurrent_explicit = !recurrent.empty() && recurrent_chosen;
    if (recurrent == "sequence")
      write.recurrent = tflite::RecurrentForm::kSequence;
    else if (recurrent == "unrolled")
      write.recurrent = tflite::RecurrentForm::kUnrolled;
    else if (!recurrent.empty())
      throw nb::value_error(("unknown recurrent form '" + recurrent + "'").c_str());
    try {
      tflite::WriteResult written = tflite::write_tflite_model(*r.graph, write);
      if (tflite_path.empty()) {
        std::string bytes = written.bytes();
        out["tflite"] = nb::bytes(bytes.data(), bytes.size());
      } else {
        nb::gil_scoped_release unlocked;  // gigabytes of weights: let Python threads run
        written.write_file(tflite_path);
      }
      out["tflite_size"] = written.size();
      out["tflite_external"] = written.external_buffers();
      out["tflite_tensors"] = written.value_tensors;
      out["tflite_constants"] = written.constant_tensors;
      out["tflite_warnings"] = written.warnings;
    } catch (const tflite::TfliteError& e) {
      out["tflite_error"] = std::string(e.what());
    }
  }
  return out;
}

nb::dict tflite_info_to_python(const tflite::TfliteModelInfo& info) {
  nb::list ops, tensors, metadata;
  for (const auto& op : info.ops)
    ops.append(nb::make_tuple(op.name, op.version, op.inputs, op.outputs, op.fused_activation));
  for (const auto& t : info.tensors)
    tensors.append(nb::make_tuple(t.name, t.shape, t.dtype, t.buffer, t.buffer_size));
  for (const auto& [name, value] : info.metadata)
    metadata.append(nb::make_tuple(name, nb::bytes(value.data(), value.size())));
  nb::dict out;
  out["version"] = info.version;
  out["ops"] = ops;
  out["tensors"] = tensors;
  out["inputs"] = info.inputs;
  out["outputs"] = info.outputs;
  out["num_buffers"] = info.num_buffers;
  out["buffer_offsets"] = info.buffer_offsets;
  out["external_buffers"] = info.external_buffers;
  out["signature_keys"] = info.signature_keys;
  out["signature_inputs"] = info.signature_inputs;
  out["signature_outputs"] = info.signature_outputs;
  out["metadata"] = metadata;
  return out;
}

// A read-only mapping of a whole file (a .tflite in the large-model layout can exceed 2 GB).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) throw nb::value_error((path + ": " + std::strerror(errno)).c_str());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      throw nb::value_error((path + ": " + std::strerror(errno)).c_str());
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw nb::value_error((path + ": " + std::strerror(errno)).c_str());
      }
      data_ = p;
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace
}  // namespace ferry::bindings

NB_MODULE(_core, m) {
  using namespace ferry;
  using namespace ferry::bindings;
  m.doc() = "Ferry's C++ core: trace import, lowering rules, layout, passes.";

  nb::class_<Trace>(m, "Trace")
      .def(nb::init<>())
      .def("add_value", &add_value, "id"_a, "dtype"_a, "shape"_a, "is_input"_a, "name"_a,
           "producer"_a)
      .def(
          "set_constant",
          [](Trace& t, int64_t id, InArray array) {
            t.values.at(id).constant = borrow(std::move(array));
          },
          "id"_a, "array"_a)
      .def("add_node", &add_node, "id"_a, "kind"_a, "op"_a, "scope"_a, "parent"_a, "args"_a,
           "outputs"_a, "user_converter"_a = -1, "user_strategy"_a = "")
      .def(
          "add_symbol",
          [](Trace& t, const std::string& name, int64_t input, int64_t dim, int64_t hint) {
            return symbols_of(t).add_symbol({name, input, dim, hint});
          },
          "name"_a, "input"_a, "dim"_a, "hint"_a)
      .def("add_dim_expr", &add_dim_expr, "op"_a, "args"_a)
      .def(
          "set_sym",
          [](Trace& t, int64_t id, SymDims sym) {
            TraceValue& v = t.values.at(id);
            if (sym.size() != v.shape.size())
              throw nb::value_error("sym must have one entry per dim");
            for (int32_t s : sym) {
              if (s >= 0 && (!t.symbols || s >= static_cast<int32_t>(t.symbols->size())))
                throw nb::value_error("sym names an unknown size expression");
            }
            v.sym = std::move(sym);
          },
          "id"_a, "sym"_a)
      .def(
          "add_body",
          [](Trace& t, int64_t id, const std::string& role, const Trace& body) {
            t.nodes.at(id).bodies.emplace_back(role, std::make_shared<const Trace>(body));
          },
          "id"_a, "role"_a, "body"_a)
      .def(
          "set_sym_args",
          [](Trace& t, int64_t id, std::vector<std::string> names) {
            t.nodes.at(id).sym_args = std::move(names);
          },
          "id"_a, "names"_a)
      .def_rw("inputs", &Trace::inputs)
      .def_rw("outputs", &Trace::outputs)
      .def_rw("input_names", &Trace::input_names)
      .def_rw("output_names", &Trace::output_names)
      .def_prop_ro("num_nodes", [](const Trace& t) { return t.nodes.size(); });

  m.def("convert", &run_convert, "trace"_a, "disabled"_a, "input_orders"_a, "output_orders"_a,
        "keep_dumps"_a = false, "tflite"_a = false, "tflite_path"_a = "", "float16"_a = false,
        "placement"_a = "auto", "recurrent"_a = "", "int8_weights"_a = false,
        "keep_float"_a = std::vector<std::string>{}, "int8_tensors"_a = -1,
        "int8_ranges"_a = std::vector<std::tuple<int32_t, float, float>>{}, "int8_io"_a = "float32",
        "recurrent_chosen"_a = true, "int16_activations"_a = false,
        "int8_fixed"_a = std::vector<std::tuple<int32_t, float, int32_t>>{},
        "kernel_scales"_a = std::vector<std::pair<int32_t, std::vector<float>>>{},
        "model_scales_only"_a = false);
  m.def(
      "read_tflite",
      [](nb::bytes data) {
        try {
          return tflite_info_to_python(tflite::read_tflite(data.c_str(), data.size()));
        } catch (const tflite::TfliteFormatError& e) {
          throw nb::value_error(e.what());
        }
      },
      "data"_a, "Summary of a .tflite file (ops, tensors, signatures); ValueError if malformed.");
  m.def(
      "read_tflite_file",
      [](const std::string& path) {
        try {
          MappedFile file(path);
          return tflite_info_to_python(tflite::read_tflite(file.data(), file.size()));
        } catch (const tflite::TfliteFormatError& e) {
          throw nb::value_error((path + ": " + e.what()).c_str());
        }
      },
      "path"_a, "read_tflite for a file, mapped rather than read (files may exceed 2 GB).");
  m.def(
      "resample_taps",
      [](const std::string& method, const std::string& coordinate, int64_t in, int64_t out,
         double scale, bool float64, bool antialias) {
        ResampleTaps t = resample_taps(method, coordinate, in, out, scale, float64, antialias);
        return std::make_tuple(t.taps, std::move(t.index), std::move(t.weight));
      },
      "method"_a, "coordinate"_a, "n_in"_a, "n_out"_a, "scale"_a, "float64"_a,
      "antialias"_a = false,
      "Where the `resize` op samples one axis: (taps, indices, weights), each list holding "
      "n_out * taps entries, output-major (the same numbers the TFLite writer uses).");
  m.def("has_rule", [](const std::string& op) { return registry().find(op) != nullptr; });
  m.def("rule_mapping", [](const std::string& op) {
    const Rule* r = registry().find(op);
    return r ? r->mapping : std::string();
  });
  m.def("rules", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& op : registry().ops()) out.emplace_back(op, registry().find(op)->mapping);
    return out;
  });
  m.def(
      "tf_ops",
      [] {
        std::vector<std::tuple<std::string, std::string, std::string>> out;
        const auto& forms = tflite::builtin_forms();
        for (const auto& [op, cls] : tf_op_layouts()) {
          auto it = forms.find(op);
          out.emplace_back(op, layout_class_name(cls), it == forms.end() ? "" : it->second);
        }
        return out;
      },
      "Every TF-level op: (name, layout class, what the .tflite writer makes of it).");
  m.def(
      "rule_location",
      [](const std::string& op) -> nb::object {
        const Rule* r = registry().find(op);
        if (!r) return nb::none();
        nb::dict out;
        out["file"] = std::string(r->where.file_name());
        out["relative"] = source_relative_path(r->where.file_name());
        out["line"] = r->where.line();
        out["function"] = std::string(r->where.function_name());
        out["ops"] = r->ops;
        return out;
      },
      "op"_a,
      "Where the rule for `op` was registered: file (as compiled), relative (to the source "
      "tree), line, function (the registering one), ops (every name of the rule); None "
      "without a rule.");
}
