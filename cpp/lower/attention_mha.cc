// Multi-head attention as a whole: F.multi_head_attention_forward (what nn.MultiheadAttention
// runs) and the fused calls of PyTorch's inference fast path (_native_multi_head_attention,
// _transformer_encoder_layer_fwd). Each becomes
//   dense q, k, v (kernels sliced from the packed in_proj weight; the softmax scale folded
//   into q's kernel and bias) -> reshape + transpose per q, k, v to [B, h, N, d]
//   -> attention (attention.cc) -> transpose + reshape back -> dense out_proj.
// `transpose` count per attention layer: 4 — one per q, k and v to move the heads in front of
// the sequence, one to merge them back. Nothing cheaper exists: the head split interleaves
// heads with sequence positions, which no reshape can undo, and k's transpose for q @ k^T is
// folded into matmul(transpose_b). nn.MultiheadAttention(batch_first=True) swaps batch and
// sequence around F.multi_head_attention_forward; the rule reads the unswapped tensor and
// swaps its result back so that the cleanup folds that pair away: those cost nothing.
#include <cmath>
#include <cstring>

#include "lower/attention.h"
#include "lower/helpers.h"
#include "lower/rules.h"

namespace ferry {
namespace {

// nullptr when the argument is None, unless `required`.
Value* constant_arg(LowerContext& ctx, const std::string& name, bool required = false) {
  Value* v = required ? ctx.in(name) : ctx.in_opt(name);
  if (v && !v->is_constant()) {
    throw LowerError("'" + name +
                     "' is computed at run time; attention rules need constant weights");
  }
  return v;
}

// Rows [first, first + count) of a constant ([out, in] weight or [out] bias), times `scale`.
std::shared_ptr<TensorData> take_rows(const TensorData& t, int64_t first, int64_t count,
                                      double scale) {
  if (t.shape().empty() || first + count > t.shape()[0]) {
    throw LowerError("attention: a projection weight has fewer rows than the heads need");
  }
  Shape shape = t.shape();
  const int64_t row = num_elements(shape) / shape[0];
  shape[0] = count;
  auto out = std::make_shared<TensorData>(t.dtype(), shape);
  const size_t elem = dtype_size(t.dtype());
  std::memcpy(out->mutable_bytes(), t.bytes() + first * row * elem, out->nbytes());
  if (scale != 1.0 && t.dtype() != DType::kFloat32 && t.dtype() != DType::kFloat64) {
    throw LowerError("internal: attention folds its scale into float32/float64 weights only");
  }
  for (int64_t i = 0; scale != 1.0 && i < out->size(); ++i) {
    if (t.dtype() == DType::kFloat32) {
      out->mutable_as<float>()[i] = static_cast<float>(out->as<float>()[i] * scale);
    } else {
      out->mutable_as<double>()[i] *= scale;
    }
  }
  return out;
}

// x @ w[first:first+count]^T + b[first:first+count], times `scale`: a Dense layer. The scale
// lives in the kernel and bias (no op) for float32/float64 weights. PyTorch scales q (or the
// scores) instead; for a head size that is a power of 4 the scale is a power of 2 and both
// are exact, otherwise they differ by float32 rounding of the weights (~1e-7 relative).
Value* project(LowerContext& ctx, Value* x, Value* w, int64_t w_first, Value* b, int64_t b_first,
               int64_t count, double scale) {
  if (!w) throw LowerError("attention: a projection weight is missing");
  if (w->rank() != 2 || w->shape[1] != x->shape.back()) {
    throw LowerError("attention: a projection weight does not match its input's size");
  }
  auto float_type = [](const Value* v) {
    return !v || v->dtype == DType::kFloat32 || v->dtype == DType::kFloat64;
  };
  const bool fold = float_type(w) && float_type(b);
  const double s = fold ? scale : 1.0;
  Value* kernel =
      ctx.constant(take_rows(*w->constant, w_first, count, s)->permuted({1, 0}), Layout::kFixed);
  Value* bias =
      b ? ctx.constant(take_rows(*b->constant, b_first, count, s), Layout::kFixed) : nullptr;
  Shape shape = x->shape;
  shape.back() = count;
  SymDims sym = x->sym;
  if (!sym.empty()) sym.back() = -1;
  Value* y = ctx.emit("dense", {x, kernel, bias}, {}, x->dtype, std::move(shape), std::move(sym));
  return fold ? y : emit_scale(ctx, y, scale);
}

// A [N, B, E] (sequence-first), [B, N, E] or unbatched [N, E] tensor.
struct Seq {
  Value* x;
  bool seq_first;
};

// The tensor before a batch/sequence swap, when `v` is one (see the top of the file).
Seq unswapped(Value* v) {
  const Node* p = v->producer;
  if (v->rank() == 3 && p && p->op == "transpose" &&
      p->attrs.get_ints("perm") == std::vector<int64_t>{1, 0, 2}) {
    return {p->inputs[0], false};
  }
  return {v, true};
}

// [N, B, h*d], [B, N, h*d] or [N, h*d] -> [B, h, N, d].
Value* split_heads(LowerContext& ctx, const Seq& s, int64_t heads) {
  const Shape& shape = s.x->shape;
  const int64_t d = shape.back() / heads;
  Shape split = {shape[0], shape.size() == 2 ? 1 : shape[1], heads, d};
  SymDims sym;
  if (has_free_dims(s.x->sym)) {
    if (shape.size() == 2) throw LowerError("unbatched attention cannot take a free size yet");
    sym = {s.x->sym[0], s.x->sym[1], -1, -1};
  }
  Value* x = emit_sized_reshape(ctx, s.x, std::move(split), std::move(sym));
  return emit_transpose(
      ctx, x, s.seq_first ? std::vector<int64_t>{1, 2, 0, 3} : std::vector<int64_t>{0, 2, 1, 3});
}

// [B, h, N, d] -> `shape`, laid out as `seq_first` says.
Value* merge_heads(LowerContext& ctx, Value* o, bool seq_first, Shape shape) {
  Value* t = emit_transpose(
      ctx, o, seq_first ? std::vector<int64_t>{2, 0, 1, 3} : std::vector<int64_t>{0, 2, 1, 3});
  SymDims sym;
  if (has_free_dims(t->sym) && shape.size() == 3) sym = {t->sym[0], t->sym[1], -1};
  return emit_sized_reshape(ctx, t, std::move(shape), std::move(sym));
}

// Rows [w_first, w_first + E) of `weight` and [b_first, b_first + E) of `bias` (nullptr: none).
struct Projection {
  Value* weight = nullptr;
  int64_t w_first = 0;
  Value* bias = nullptr;
  int64_t b_first = 0;
};

struct Mha {
  Seq q, k, v;
  int64_t heads = 0;
  Projection wq, wk, wv;
  Value* out_weight = nullptr;
  Value* out_bias = nullptr;
  double scale = 1.0;  // of the scores, folded into q's projection
};

struct MhaResult {
  Value* output;   // laid out as the query
  Value* weights;  // [B, h, L, S]
};

MhaResult emit_mha(LowerContext& ctx, const Mha& m, ScoreMask& mask, bool safe_softmax) {
  const int64_t E = m.q.x->shape.back();
  if (m.heads <= 0 || E % m.heads != 0) {
    throw LowerError("multi-head attention: embed_dim is not divisible by num_heads");
  }
  auto heads = [&](const Seq& s, const Projection& p, double scale) {
    Value* y = project(ctx, s.x, p.weight, p.w_first, p.bias, p.b_first, E, scale);
    return split_heads(ctx, {y, s.seq_first}, m.heads);
  };
  Value* q = heads(m.q, m.wq, m.scale);
  Value* k = heads(m.k, m.wk, 1.0);
  Value* v = heads(m.v, m.wv, 1.0);
  AttentionResult r = emit_attention(ctx, q, k, v, mask, safe_softmax);
  Shape shape = m.q.x->shape;
  Value* merged = merge_heads(ctx, r.output, m.q.seq_first, shape);
  if (!m.out_weight) throw LowerError("attention: the output projection weight is missing");
  const int64_t out_features = m.out_weight->shape[0];
  return {project(ctx, merged, m.out_weight, 0, m.out_bias, 0, out_features, 1.0), r.weights};
}

// Binds the attention weights [B, h, L, S] (averaged over heads when asked) to output 1.
void set_weights_output(LowerContext& ctx, Value* w, bool average) {
  if (ctx.num_outputs() < 2) return;
  if (has_free_dims(w->sym) && ctx.output_needed(1)) {
    throw LowerError("the attention weights of free sizes are not supported yet");
  }
  if (average) {
    Attrs attrs;
    attrs.set("axes", std::vector<int64_t>{1});
    attrs.set("keepdims", false);
    w = ctx.emit("mean", {w}, std::move(attrs), w->dtype, {w->shape[0], w->shape[2], w->shape[3]});
  }
  ctx.set_output(1, reshape_value(ctx, w, ctx.torch_output(1).shape));
}

bool flag(const Attrs& a, const std::string& name, bool fallback) {
  return a.has(name) && !a.is_none(name) ? a.get_bool(name) : fallback;
}

void lower_mha_forward(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  for (const char* arg : {"bias_k", "bias_v", "static_k", "static_v"}) {
    if (ctx.in_opt(arg)) {
      throw LowerError(std::string("multi-head attention with ") + arg + " is not supported");
    }
  }
  if (flag(a, "add_zero_attn", false)) throw LowerError("add_zero_attn is not supported");
  if (flag(a, "training", false) && a.get_float("dropout_p") > 0) {
    throw LowerError("multi-head attention in training mode drops weights at random; call eval()");
  }
  Value* query = ctx.in("query");
  Value* key = ctx.in("key");
  const bool batched = query->rank() == 3;
  const int64_t E = query->shape.back();
  const int64_t h = a.get_int("num_heads");
  const int64_t B = batched ? query->shape[1] : 1;
  const int64_t L = query->shape[0];
  const int64_t S = key->shape[0];
  const bool need_weights = flag(a, "need_weights", true);
  Mha m{unswapped(query), unswapped(key), unswapped(ctx.in("value")), h, {}, {}, {}};
  Value* bias = constant_arg(ctx, "in_proj_bias");
  if (flag(a, "use_separate_proj_weight", false)) {
    // kdim/vdim differ from embed_dim: one weight each, the bias still packed.
    m.wq = {constant_arg(ctx, "q_proj_weight"), 0, bias, 0};
    m.wk = {constant_arg(ctx, "k_proj_weight"), 0, bias, E};
    m.wv = {constant_arg(ctx, "v_proj_weight"), 0, bias, 2 * E};
  } else {
    Value* w = constant_arg(ctx, "in_proj_weight");
    m.wq = {w, 0, bias, 0};
    m.wk = {w, E, bias, E};
    m.wv = {w, 2 * E, bias, 2 * E};
  }
  m.out_weight = constant_arg(ctx, "out_proj_weight", true);
  m.out_bias = constant_arg(ctx, "out_proj_bias");
  // The two paths scale with differently rounded factors, as PyTorch does.
  const double d = static_cast<double>(E / h);
  m.scale = need_weights ? std::sqrt(1.0 / d) : 1.0 / std::sqrt(d);

  ScoreMask mask(ctx, query->dtype);
  Value* padding = ctx.in_opt("key_padding_mask");
  Value* attn_mask = ctx.in_opt("attn_mask");
  // Free sizes: query and key are [L, B, E] and [S, B, E] here; a key padding mask [B, S].
  auto free_at = [](const Value* v, size_t d) { return v->sym.empty() ? -1 : v->sym[d]; };
  if (has_free_dims(query->sym) && attn_mask && attn_mask->rank() == 3) {
    throw LowerError("a per-head (3-D) attn_mask at free sizes is not supported yet");
  }
  if (flag(a, "is_causal", false) && !padding && !need_weights) {
    // PyTorch drops attn_mask here and lets SDPA build the causal mask.
    mask.add_causal(L, S, free_at(query, 0), free_at(key, 0));
  } else {
    if (attn_mask) {
      mask.add(attn_mask->rank() == 3 ? reshape_value(ctx, attn_mask, {B, h, L, S}) : attn_mask,
               false);
    }
    if (padding) {
      const SymDims sym =
          padding->sym.empty() ? SymDims{} : SymDims{padding->sym[0], -1, -1, padding->sym[1]};
      mask.add(padding->is_constant() ? reshape_value(ctx, padding, {B, 1, 1, S})
                                      : emit_sized_reshape(ctx, padding, {B, 1, 1, S}, sym),
               false);
    }
  }
  // SDPA (need_weights=False) zeroes fully masked rows; bmm + softmax gives NaN there.
  MhaResult r = emit_mha(ctx, m, mask, !need_weights);
  Value* out = r.output;
  if (!m.q.seq_first) out = emit_transpose(ctx, out, {1, 0, 2});
  set_output_reshaped(ctx, out, 0);
  set_weights_output(ctx, r.weights, flag(a, "average_attn_weights", true));
}

// The fast path's mask: bool, true masked out; mask_type 0 is [L, S], 1 a key padding mask
// [B, S], 2 anything that broadcasts to [B, h, L, S] (PyTorch refuses a mask without a type).
void add_fast_path_mask(LowerContext& ctx, ScoreMask& mask, int64_t B, int64_t S) {
  Value* m = ctx.in_opt("mask");
  if (!m) return;
  if (ctx.graph().symbols) {
    for (const Value* v : ctx.node().inputs) {
      if (v && has_free_dims(v->sym))
        throw LowerError("an attention mask with free sizes is not supported yet");
    }
  }
  const Attrs& a = ctx.attrs();
  if (a.has("mask_type") && !a.is_none("mask_type") && a.get_int("mask_type") == 1) {
    m = reshape_value(ctx, m, {B, 1, 1, S});
  }
  mask.add(m, false);
}

Mha fast_path_mha(LowerContext& ctx, Seq q, Seq k, Seq v, int64_t heads) {
  Value* w = constant_arg(ctx, "qkv_weight", true);
  Value* b = constant_arg(ctx, "qkv_bias");
  const int64_t E = q.x->shape.back();
  Mha m{q, k, v, heads, {w, 0, b, 0}, {w, E, b, E}, {w, 2 * E, b, 2 * E}};
  m.out_weight = constant_arg(ctx, "proj_weight", true);
  m.out_bias = constant_arg(ctx, "proj_bias");
  m.scale = 1.0 / std::sqrt(static_cast<double>(E / heads));
  return m;
}

void lower_native_mha(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* query = ctx.in("query");
  if (query->rank() != 3) throw LowerError("_native_multi_head_attention expects [B, L, E] inputs");
  Value* key = ctx.in("key");
  Mha m = fast_path_mha(ctx, {query, false}, {key, false}, {ctx.in("value"), false},
                        a.get_int("num_head"));
  ScoreMask mask(ctx, query->dtype);
  add_fast_path_mask(ctx, mask, query->shape[0], key->shape[1]);
  // The fused kernels' masked softmax gives NaN for a fully masked row, like bmm + softmax
  // (and unlike the SDPA path of F.multi_head_attention_forward).
  MhaResult r = emit_mha(ctx, m, mask, false);
  ctx.set_output(0, r.output);
  if (flag(a, "need_weights", true)) {
    set_weights_output(ctx, r.weights, flag(a, "average_attn_weights", true));
  }
}

Value* layer_norm(LowerContext& ctx, Value* x, const std::string& n, double eps) {
  Attrs attrs;
  attrs.set("axes", std::vector<int64_t>{static_cast<int64_t>(x->rank()) - 1});
  attrs.set("epsilon", eps);
  return ctx.emit("layer_norm",
                  {x, constant_arg(ctx, "norm_weight_" + n), constant_arg(ctx, "norm_bias_" + n)},
                  std::move(attrs), x->dtype, x->shape, x->sym);
}

// The whole nn.TransformerEncoderLayer of the fast path: attention and feed-forward blocks
// with residuals, layer norms before (norm_first) or after each.
void lower_encoder_layer(LowerContext& ctx) {
  const Attrs& a = ctx.attrs();
  Value* src = ctx.in("src");
  if (src->rank() != 3) throw LowerError("_transformer_encoder_layer_fwd expects [B, L, E]");
  const bool norm_first = a.get_bool("norm_first");
  const double eps = a.get_float("eps");
  Value* x = norm_first ? layer_norm(ctx, src, "1", eps) : src;
  Mha m = fast_path_mha(ctx, {x, false}, {x, false}, {x, false}, a.get_int("num_heads"));
  ScoreMask mask(ctx, src->dtype);
  add_fast_path_mask(ctx, mask, src->shape[0], src->shape[1]);
  x = emit_binary(ctx, "add", src, emit_mha(ctx, m, mask, false).output);
  if (!norm_first) x = layer_norm(ctx, x, "1", eps);

  Value* ff = norm_first ? layer_norm(ctx, x, "2", eps) : x;
  Value* w1 = constant_arg(ctx, "ffn_weight_1", true);
  ff = project(ctx, ff, w1, 0, constant_arg(ctx, "ffn_bias_1"), 0, w1->shape[0], 1.0);
  if (a.get_bool("use_gelu")) {
    Attrs g;
    g.set("approximate", std::string("none"));
    ff = ctx.emit("gelu", {ff}, std::move(g), ff->dtype, ff->shape, ff->sym);
  } else {
    ff = ctx.emit("relu", {ff}, {}, ff->dtype, ff->shape, ff->sym);
  }
  Value* w2 = constant_arg(ctx, "ffn_weight_2", true);
  ff = project(ctx, ff, w2, 0, constant_arg(ctx, "ffn_bias_2"), 0, w2->shape[0], 1.0);
  x = emit_binary(ctx, "add", x, ff);
  if (!norm_first) x = layer_norm(ctx, x, "2", eps);
  ctx.set_output(0, x);
}

}  // namespace

void register_mha_rules(Registry& registry) {
  // Free sizes: the traced path (F.multi_head_attention_forward) takes them; the fused fast
  // paths refuse them until a test reaches them with free sizes.
  registry.add({{"torch.nn.functional.multi_head_attention_forward"},
                lower_mha_forward,
                "dense q/k/v + reshape/transpose heads + attention + transpose/reshape + dense",
                /*free_sizes=*/true});
  registry.add({{"torch._native_multi_head_attention", "aten._native_multi_head_attention.default"},
                lower_native_mha,
                "dense q/k/v + reshape/transpose heads + attention + transpose/reshape + dense"});
  registry.add(
      {{"torch._transformer_encoder_layer_fwd", "aten._transformer_encoder_layer_fwd.default"},
       lower_encoder_layer,
       "multi-head attention + layer_norm + dense + relu/gelu + dense + add"});
}

}  // namespace ferry
