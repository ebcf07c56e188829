#pragma once

// The writer's state while walking one TF-level graph (emitters: writer_ops.cc).
// Op versions are the lowest that express what is used
// (float32 kernels unless noted):
//   CONV_2D 1 (dilation and fused activations need no higher version for float), 6 grouped,
//   DEPTHWISE_CONV_2D 1, or 2 with dilation; FULLY_CONNECTED 1, or 5 with keep_num_dims;
//   RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR 1, or 3 with half_pixel_centers;
//   every other op from the format's type and rank rules (op_versions.h).
#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tflite/builder.h"
#include "tflite/quantize.h"
#include "tflite/writer.h"

namespace ferry::tflite::detail {

using Act = fb::ActivationFunctionType;

inline std::vector<int32_t> to_i32(const std::vector<int64_t>& v) {
  return std::vector<int32_t>(v.begin(), v.end());
}

class Writer {
 public:
  Writer(const Graph& g, const WriteOptions& options)
      : g_(g),
        own_(std::make_unique<ModelBuilder>(options)),
        m_(*own_),
        options_(options),
        kept_float_(std::make_shared<std::unordered_set<std::string>>()) {}
  // The writer of a control-flow node's body: it fills another subgraph of the same model.
  Writer(const Graph& g, ModelBuilder& model, const WriteOptions& options,
         std::shared_ptr<std::unordered_set<std::string>> kept_float)
      : g_(g), m_(model), options_(options), kept_float_(std::move(kept_float)) {}

  WriteResult run() {
    emit_nodes();
    report_recurrent_option();
    for (const std::string& entry : options_.keep_float) {
      if (!options_.int8 && !kept_float_->count(entry))
        warnings_.push_back("keep_float entry '" + entry +
                            "' keeps no kernel: no quantized conv or dense layer is that module, "
                            "inside it, or that op");
    }
    std::vector<int> in, out;
    ModelBuilder::Signature sig;
    for (size_t i = 0; i < g_.inputs.size(); ++i) {
      in.push_back(tensor(g_.inputs[i]));
      sig.inputs.emplace_back(name_of(g_.input_names, i, "input_"), in.back());
    }
    for (size_t i = 0; i < g_.outputs.size(); ++i) {
      out.push_back(tensor(g_.outputs[i]));
      sig.outputs.emplace_back(name_of(g_.output_names, i, "output_"), out.back());
    }
    std::vector<int> tensor_map;  // renumbered by the int8 pass; empty: as written
    if (options_.int8) {
      if (m_.num_subgraphs() > 1)
        throw TfliteError(
            "int8: full integer quantization of a model with control flow (while_loop, cond) "
            "is not supported yet");
      Int8Result q = quantize_int8(m_, *options_.int8, options_.keep_float, in, out, sig);
      for (std::string& w : q.warnings) warnings_.push_back(std::move(w));
      tensor_map = std::move(q.tensor_map);
    }
    WriteResult result;
    result.warnings = warnings_;
    result.model = std::make_shared<SerializedModel>(m_.finish(in, out, sig));
    auto renumbered = [&](int t) {
      return tensor_map.empty() ? t : tensor_map.at(static_cast<size_t>(t));
    };
    for (const auto& v : g_.values()) {
      if (v->is_constant()) continue;
      auto it = tensor_of_.find(resolve(v.get()));
      if (it == tensor_of_.end()) continue;
      if (const int index = renumbered(it->second); index >= 0)
        result.value_tensors.emplace_back(v->id, index);
    }
    for (const auto& [id, t] : constant_tensors_)
      if (const int index = renumbered(t); index >= 0)
        result.constant_tensors.emplace_back(id, index);
    return result;
  }

  // Writes the graph as a new subgraph named `name` and returns its index; the model's
  // current subgraph stays what it was.
  int write_subgraph(const std::string& name) {
    const int previous = m_.current_subgraph();
    const int index = m_.add_subgraph(name);
    m_.select_subgraph(index);
    emit_nodes();
    std::vector<int> in, out;
    for (const Value* v : g_.inputs) in.push_back(tensor(v));
    for (const Value* v : g_.outputs) out.push_back(tensor(v));
    m_.set_subgraph_io(std::move(in), std::move(out));
    m_.select_subgraph(previous);
    return index;
  }

  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  void emit_nodes() {
    for (const Value* v : g_.outputs) outputs_.insert(v);
    for (const Node* n : g_.nodes())
      if (n->op == "identity") alias_[n->outputs[0]] = n->inputs.at(0);
    for (const Node* n : g_.nodes())
      if (!absorbed_.count(n) && n->op != "identity") emit(n);
  }

  static std::string name_of(const std::vector<std::string>& names, size_t i, const char* prefix) {
    return i < names.size() && !names[i].empty() ? names[i] : prefix + std::to_string(i);
  }

  [[noreturn]] void fail(const Node* n, const std::string& what) const {
    throw TfliteError("TFLite writer: " + what + " (op '" + n->op + "', PyTorch scope '" +
                      (n->scope.empty() ? "<root>" : n->scope) + "')");
  }

  const Value* resolve(const Value* v) const {
    for (auto it = alias_.find(v); it != alias_.end(); it = alias_.find(v)) v = it->second;
    return v;
  }

  // The TFLite tensor holding a value: constants carry their bytes (already physical).
  int tensor(const Value* v) {
    v = resolve(v);
    if (auto it = tensor_of_.find(v); it != tensor_of_.end()) return it->second;
    std::string name =
        !v->name.empty() ? v->name
        : v->producer    ? (v->producer->scope.empty() ? v->producer->op
                                                       : v->producer->scope + "/" + v->producer->op) +
                            ":" + std::to_string(v->id)
                      : "v" + std::to_string(v->id);
    // Constants carry their bytes already in physical order (perhaps as a lazy permutation
    // of a PyTorch parameter, read in place).
    int index = v->is_constant() ? m_.add_weights(v->constant, {}, name, v->physical_shape())
                                 : m_.add_tensor(tensor_type(v->dtype), v->physical_shape(), name);
    if (has_free_dims(v->sym)) {
      Shape shape = v->physical_shape();
      SymDims sym = v->physical_sym();
      std::vector<int32_t> signature;
      for (size_t d = 0; d < shape.size(); ++d)
        signature.push_back(sym[d] >= 0 ? -1 : static_cast<int32_t>(shape[d]));
      m_.set_signature(index, std::move(signature));
    }
    tensor_of_[v] = index;
    return index;
  }

  // A tensor between the ops one node becomes. At free sizes it is free where `like` is and
  // the sizes agree (a reduced dim stays 1): its shape_signature says so, as XNNPACK needs.
  int temp(const Value* like, const Shape& shape, const std::string& suffix) {
    const int index =
        m_.add_tensor(tensor_type(like->dtype), shape, "tmp" + std::to_string(like->id) + suffix);
    Shape ls = like->physical_shape();
    SymDims sym = has_free_dims(like->sym) ? like->physical_sym() : SymDims{};
    if (!sym.empty() && shape.size() == ls.size() + 1 && shape.size() > 1 && shape[1] == 1) {
      ls.insert(ls.begin() + 1, 1);  // the 1-D ops' image form [N, 1, W, C]
      sym.insert(sym.begin() + 1, -1);
    }
    if (!sym.empty() && shape.size() == ls.size()) {
      std::vector<int32_t> signature;
      for (size_t d = 0; d < shape.size(); ++d)
        signature.push_back(sym[d] >= 0 && shape[d] == ls[d] ? -1 : static_cast<int32_t>(shape[d]));
      m_.set_signature(index, std::move(signature));
    }
    return index;
  }

  // `channel_axis`: a kernel's output-channel axis (ModelBuilder::add_weights), or -1.
  int floats(std::vector<float> v, const Shape& shape, const std::string& name,
             int channel_axis = -1) {
    return m_.add_floats(std::move(v), shape, name, channel_axis);
  }

  // A float32 constant input stored permuted by `perm` (lazily: see ModelBuilder::add_weights).
  int weights(const Node* n, const Value* v, std::vector<int64_t> perm, const std::string& what,
              const Shape& shape = {}, int channel_axis = -1) {
    if (!v || !v->is_constant() || v->dtype != DType::kFloat32)
      fail(n, what + " must be a float32 constant");
    const int index =
        m_.add_weights(v->constant, std::move(perm), n->scope + "/" + what, shape, channel_axis);
    if (m_.current_subgraph() == 0) constant_tensors_.emplace_back(v->id, index);
    return index;
  }

  // The axis to quantize node n's kernel along (ModelBuilder::add_weights), or -1 where
  // keep_float keeps it float32.
  int kernel_axis(const Node* n, int axis) {
    bool keep = false;
    for (const std::string& entry : options_.keep_float) {
      if (keeps_float(entry, n->scope, n->op)) {
        kept_float_->insert(entry);
        keep = true;
      }
    }
    return keep ? -1 : axis;
  }

  // The node's bias input (inputs[2]) as values to fold into, or zeros.
  std::vector<float> bias_data(const Node* n, int64_t channels) const {
    if (n->inputs.size() > 2 && n->inputs[2]) return float_data(n, n->inputs[2], "the bias");
    return std::vector<float>(static_cast<size_t>(channels), 0.0f);
  }

  // The node's bias input (inputs[2]) or zeros: TFLite kernels are fastest with one present.
  int optional_bias(const Node* n, int64_t channels) {
    if (n->inputs.size() > 2 && n->inputs[2]) return weights(n, n->inputs[2], {}, "bias");
    return floats(std::vector<float>(channels, 0.0f), {channels}, n->scope + "/bias");
  }

  // hard_sigmoid(y) = relu6(y + 3) / 6. When it directly follows an op with a bias (after
  // any folded batch norm), the +3 goes into the bias and the op applies RELU6 itself; one
  // MUL remains (finish_hard_sigmoid). MobileNetV3's squeeze-excitation gates are all this.
  const Node* fold_hard_sigmoid(const Value*& out, std::vector<float>& bias) {
    const Node* u = sole_user(out);
    if (!u || u->op != "hard_sigmoid" || out->dtype != DType::kFloat32) return nullptr;
    for (float& b : bias) b += 3.0f;
    absorbed_.insert(u);
    return u;
  }

  void finish_hard_sigmoid(const Node* hs, int relu6_of_shifted) {
    if (!hs) return;
    m_.add_op(fb::BuiltinOperator_MUL, 1,
              {relu6_of_shifted, m_.add_float_scalar(1.0f / 6.0f, "one_sixth")},
              {tensor(hs->outputs[0])}, fb::BuiltinOptions_MulOptions,
              fb::CreateMulOptions(m_.fbb()).Union());
  }

  // After a conv written as 2-D on a height-1 image (`line`) and/or with a folded hard
  // sigmoid: `result` holds the op's 4-D (image) output; reshape it back to the value's
  // shape and apply the hard sigmoid's final MUL, ending in the last absorbed node's tensor.
  void finish_line(const Node* n, const Value* out, const Node* hs, int result, bool line);

  // The op's output goes to nothing a bias could absorb: no batch norm, no hard sigmoid.
  bool plain_output(const Value* out) const {
    if (foldable_batch_norm(out)) return false;
    const Node* u = sole_user(out);
    return !(u && u->op == "hard_sigmoid");
  }

  // A batch norm directly after `out` that fold_batch_norms would fold.
  const Node* foldable_batch_norm(const Value* out) const {
    const Node* bn = sole_user(out);
    if (!bn || bn->op != "batch_norm" || bn->inputs[0] != out) return nullptr;
    auto axis = bn->attrs.get_int("axis");
    if (axis != static_cast<int64_t>(out->rank()) - 1 && axis != -1) return nullptr;
    return bn;
  }

  // The only consumer of `v` when there is exactly one and `v` is not a model output.
  const Node* sole_user(const Value* v) const {
    if (v->users.size() != 1 || outputs_.count(v)) return nullptr;
    return v->users[0];
  }

  static Act activation_of(const Node* n) {
    if (n->op == "relu") return fb::ActivationFunctionType_RELU;
    if (n->op == "relu6") return fb::ActivationFunctionType_RELU6;
    if (n->op != "clip") return fb::ActivationFunctionType_NONE;
    bool no_max = n->attrs.is_none("max");
    double lo = n->attrs.is_none("min") ? -INFINITY : n->attrs.get_float("min");
    double hi = no_max ? INFINITY : n->attrs.get_float("max");
    if (lo == 0 && no_max) return fb::ActivationFunctionType_RELU;
    if (lo == 0 && hi == 6) return fb::ActivationFunctionType_RELU6;
    if (lo == -1 && hi == 1) return fb::ActivationFunctionType_RELU_N1_TO_1;
    return fb::ActivationFunctionType_NONE;
  }

  // Whether LiteRT's float32 kernel for `code` applies `act` as a fused activation. Most
  // builtins with an activation field honour RELU, RELU6 and RELU_N1_TO_1, but some reject
  // any fused activation when the interpreter prepares them (CONCATENATION:
  // kernels/concatenation.cc requires kTfLiteActNone), so fusion asks first.
  static bool accepts_fused(fb::BuiltinOperator code, Act act) {
    if (act == fb::ActivationFunctionType_NONE) return true;
    switch (code) {
      case fb::BuiltinOperator_CONV_2D:
      case fb::BuiltinOperator_DEPTHWISE_CONV_2D:
      case fb::BuiltinOperator_CONV_3D:
      case fb::BuiltinOperator_FULLY_CONNECTED:
      case fb::BuiltinOperator_ADD:
      case fb::BuiltinOperator_SUB:
      case fb::BuiltinOperator_MUL:
      case fb::BuiltinOperator_DIV:
      case fb::BuiltinOperator_AVERAGE_POOL_2D:
      case fb::BuiltinOperator_MAX_POOL_2D:
        return act == fb::ActivationFunctionType_RELU || act == fb::ActivationFunctionType_RELU6 ||
               act == fb::ActivationFunctionType_RELU_N1_TO_1;
      default:
        return false;
    }
  }

  // Folds a following RELU/RELU6/RELU_N1_TO_1 into the op `code` writing `*out` (the op then
  // writes the activation's output instead), where that op's kernel accepts it.
  Act fuse_activation(const Value*& out, fb::BuiltinOperator code) {
    const Node* u = sole_user(out);
    if (!u || out->dtype != DType::kFloat32) return fb::ActivationFunctionType_NONE;
    Act act = activation_of(u);
    if (!accepts_fused(code, act)) return fb::ActivationFunctionType_NONE;
    if (act != fb::ActivationFunctionType_NONE) {
      absorbed_.insert(u);
      out = u->outputs[0];
    }
    return act;
  }

  std::vector<float> float_data(const Node* n, const Value* v, const char* what) const {
    if (!v || !v->is_constant() || v->dtype != DType::kFloat32)
      fail(n, std::string(what) + " must be a float32 constant");
    const float* p = v->constant->as<float>();
    return std::vector<float>(p, p + v->constant->size());
  }

  // Folds batch norms over the last axis that directly follow a conv/dense into its weights:
  // weight *= scale per output channel, bias = (bias - mean) * scale + beta.
  void fold_batch_norms(const Value*& out, std::vector<float>& kernel, std::vector<float>& bias) {
    const size_t channels = bias.size();
    while (const Node* bn = sole_user(out)) {
      if (bn->op != "batch_norm" || bn->inputs[0] != out) return;
      auto axis = bn->attrs.get_int("axis");
      if (axis != static_cast<int64_t>(out->rank()) - 1 && axis != -1) return;
      for (int i = 1; i <= 4; ++i) {
        const Value* p = bn->inputs[i];
        if (!p || !p->is_constant() || p->dtype != DType::kFloat32 ||
            static_cast<size_t>(p->constant->size()) != channels)
          return;
      }
      auto gamma = bn->inputs[1]->constant->as<float>(),
           beta = bn->inputs[2]->constant->as<float>(), mean = bn->inputs[3]->constant->as<float>(),
           var = bn->inputs[4]->constant->as<float>();
      double eps = bn->attrs.get_float("epsilon");
      std::vector<double> scale(channels);
      for (size_t c = 0; c < channels; ++c) {
        scale[c] = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
        bias[c] = static_cast<float>((bias[c] - mean[c]) * scale[c] + beta[c]);
      }
      for (size_t i = 0; i < kernel.size(); ++i)
        kernel[i] = static_cast<float>(kernel[i] * scale[i % channels]);
      absorbed_.insert(bn);
      out = bn->outputs[0];
    }
  }

  void emit(const Node* n);
  void emit_conv(const Node* n);
  void emit_depthwise(const Node* n);
  void emit_dense(const Node* n);
  void emit_batch_norm(const Node* n);
  void emit_binary(const Node* n, fb::BuiltinOperator code);
  void emit_unary(const Node* n);
  void emit_pad(const Node* n);
  void emit_pool(const Node* n, fb::BuiltinOperator code);
  void emit_shape_op(const Node* n);
  void emit_resize(const Node* n);       // writer_ops_resize.cc
  void emit_grid_sample(const Node* n);  // writer_ops_grid_sample.cc
  void emit_softmax(const Node* n);      // this and below: writer_ops_nn.cc
  void emit_gelu(const Node* n);
  void emit_matmul(const Node* n);
  void emit_layer_norm(const Node* n);
  void emit_embedding(const Node* n);  // this and below: writer_ops_rnn.cc
  void emit_recurrent(const Node* n);
  void emit_run_time_shape(const Node* n);
  // Why the sequence form cannot write this `lstm` node ("" when it can).
  std::string sequence_refusal(const Node* n) const;
  void emit_lstm_sequence(const Node* n);
  void emit_gru_loop(const Node* n);  // writer_ops_gru_loop.cc: a GRU over free time steps
  // "LSTM 'encoder.rnn' layer 1": the node in the user's terms (layers of one module are
  // written in order, so the count of earlier nodes of its scope is its layer index).
  std::string layer_name(const Node* n);
  // Warnings for a recurrent form the user chose that did nothing (after every node).
  void report_recurrent_option();
  // A value something reads: a node input or a model output.
  bool is_read(const Value* v) const { return !v->users.empty() || outputs_.count(v); }
  // writer_ops_math.cc: add_op (the version from the tensors' types and ranks, op_versions.h),
  // unary and binary math, where, cast.
  void add_op(fb::BuiltinOperator code, std::vector<int32_t> in, std::vector<int32_t> out,
              fb::BuiltinOptions options_type = fb::BuiltinOptions_NONE,
              flatbuffers::Offset<void> options = 0);
  void emit_math(const Node* n);
  void emit_elementwise(const Node* n);
  void emit_cast(const Node* n);
  void emit_reduce(const Node* n);  // this and below: writer_ops_tensor.cc
  void emit_broadcast_to(const Node* n);
  void emit_slice_update(const Node* n);  // this and below: writer_ops_region.cc
  void emit_slice_update_rank6(const Node* n, int in, int dst);
  void emit_conv3d(const Node* n);       // writer_ops_conv3d.cc
  void emit_space_depth(const Node* n);  // writer_ops_space_depth.cc
  void emit_scan(const Node* n);         // writer_ops_scan.cc: cumsum, reverse
  void emit_atan2(const Node* n);        // writer_ops_math.cc
  void emit_gather(const Node* n);       // this and below: writer_ops_index.cc
  void emit_scatter_nd(const Node* n);
  void emit_top_k(const Node* n);
  void emit_edge_pad(const Node* n);                          // writer_ops_pad.cc
  void emit_pool3d(const Node* n, fb::BuiltinOperator code);  // writer_ops_pool3d.cc
  void emit_group_norm(const Node* n);                        // writer_ops_group_norm.cc
  void emit_conv_transpose(const Node* n);                    // writer_ops_conv_transpose.cc
  void emit_control_flow(const Node* n);                      // writer_ops_control.cc

  void check_rank(const Node* n, size_t max_rank) const {
    for (const Value* v : n->inputs)
      if (v && v->rank() > max_rank)
        fail(n, "tensors of rank " + std::to_string(v->rank()) + " are not supported yet");
  }

  const Graph& g_;
  std::unique_ptr<ModelBuilder> own_;  // the model, unless this writes a body into another's
  ModelBuilder& m_;
  std::unordered_map<const Value*, int> tensor_of_;
  std::unordered_map<const Value*, const Value*> alias_;  // identity outputs -> their inputs
  std::unordered_set<const Node*> absorbed_;              // folded or fused into an earlier op
  std::unordered_set<const Value*> outputs_;
  WriteOptions options_;
  std::vector<std::string> warnings_;
  std::vector<std::pair<int64_t, int32_t>> constant_tensors_;  // main subgraph weights
  std::unordered_map<std::string, int64_t> rnn_layers_;        // PyTorch scope -> layers seen
  std::unordered_map<const Node*, std::string> rnn_names_;
  // keep_float entries that kept a kernel, shared with the writers of control-flow bodies.
  std::shared_ptr<std::unordered_set<std::string>> kept_float_;
};

}  // namespace ferry::tflite::detail
