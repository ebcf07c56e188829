#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lower/lower.h"
#include "lower/rules.h"
#include "passes/pipeline.h"

namespace ferry {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
using Ints = std::vector<int64_t>;
using Ops = std::vector<std::string>;

std::shared_ptr<TensorData> iota(Shape shape, float step = 1.0f) {
  auto t = std::make_shared<TensorData>(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t->size(); ++i) t->mutable_as<float>()[i] = step * static_cast<float>(i);
  return t;
}

std::shared_ptr<TensorData> bools(Shape shape, const std::vector<int>& values) {
  auto t = std::make_shared<TensorData>(DType::kBool, std::move(shape));
  for (size_t i = 0; i < values.size(); ++i) t->mutable_as<uint8_t>()[i] = values[i] != 0;
  return t;
}

// A PyTorch-level graph of one or more calls; `call` appends one whose inputs are earlier
// values (graph inputs, constants or outputs of earlier calls).
struct Torch {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();

  Value* input(const std::string& name, Shape shape, DType dtype = DType::kFloat32) {
    Value* v = g->add_value(dtype, std::move(shape), name);
    g->inputs.push_back(v);
    g->input_names.push_back(name);
    return v;
  }
  Value* constant(const std::string& name, std::shared_ptr<TensorData> data) {
    return g->add_constant(std::move(data), name);
  }
  std::vector<Value*> call(const std::string& op, std::vector<std::pair<std::string, Value*>> args,
                           Attrs attrs, std::vector<Shape> outs) {
    std::vector<Value*> inputs;
    std::vector<std::string> names;
    for (auto& [name, v] : args) {
      inputs.push_back(v);
      names.push_back(name);
    }
    Node* n = g->add_node(op, inputs, std::move(attrs));
    n->input_args = names;
    std::vector<Value*> result;
    for (Shape& s : outs) {
      Value* y = g->add_value(DType::kFloat32, std::move(s));
      g->add_output_to(n, y);
      result.push_back(y);
    }
    return result;
  }
  LowerResult lower_all(std::vector<Value*> outputs) {
    for (Value* o : outputs) {
      g->outputs.push_back(o);
      g->output_names.push_back("out" + std::to_string(g->output_names.size()));
    }
    Registry registry;
    register_all(registry);
    return lower(*g, registry);
  }
};

Ops ops(const Graph& g) {
  Ops out;
  for (const Node* n : g.nodes()) out.push_back(n->op);
  return out;
}

int count(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op == op;
  return n;
}

std::vector<const Node*> all(const Graph& g, const std::string& op) {
  std::vector<const Node*> out;
  for (const Node* n : g.nodes()) {
    if (n->op == op) out.push_back(n);
  }
  return out;
}

#define ASSERT_LOWERED(r) ASSERT_TRUE((r).errors.empty()) << (r).errors[0].message

Attrs sdpa_attrs(bool causal = false) {
  Attrs a;
  a.set("dropout_p", 0.0);
  a.set("is_causal", causal);
  a.set("scale", Attr{});
  a.set("enable_gqa", false);
  return a;
}

TEST(AttentionLowering, SdpaIsScaledMatmulSoftmaxMatmul) {
  Torch t;
  Value* q = t.input("q", {2, 4, 5, 16});
  Value* k = t.input("k", {2, 4, 7, 16});
  Value* v = t.input("v", {2, 4, 7, 8});
  auto y = t.call("torch.nn.functional.scaled_dot_product_attention",
                  {{"query", q}, {"key", k}, {"value", v}}, sdpa_attrs(), {{2, 4, 5, 8}});
  auto r = t.lower_all(y);
  ASSERT_LOWERED(r);
  EXPECT_EQ(ops(*r.graph), (Ops{"mul", "matmul", "softmax", "matmul"}));
  const Node* mul = all(*r.graph, "mul")[0];
  EXPECT_EQ(mul->inputs[0], r.graph->inputs[0]);  // q is scaled, not the [L, S] scores
  EXPECT_FLOAT_EQ(mul->inputs[1]->constant->scalar_at(0), 0.25f);
  auto mm = all(*r.graph, "matmul");
  EXPECT_TRUE(mm[0]->attrs.get_bool("transpose_b"));  // k^T without a transpose op
  EXPECT_EQ(mm[0]->outputs[0]->shape, (Shape{2, 4, 5, 7}));
  EXPECT_FALSE(mm[1]->attrs.get_bool("transpose_b"));
  EXPECT_EQ(all(*r.graph, "softmax")[0]->attrs.get_int("axis"), 3);
}

TEST(AttentionLowering, CausalMaskIsOneConstantAndNeedsNoRowCheck) {
  Torch t;
  Value* q = t.input("q", {1, 3, 4});
  Value* k = t.input("k", {1, 5, 4});
  auto y = t.call("torch.nn.functional.scaled_dot_product_attention",
                  {{"query", q}, {"key", k}, {"value", k}}, sdpa_attrs(true), {{1, 3, 4}});
  auto r = t.lower_all(y);
  ASSERT_LOWERED(r);
  // No row of a causal mask is fully masked, so no max/equal/where after the softmax.
  EXPECT_EQ(ops(*r.graph), (Ops{"mul", "matmul", "add", "softmax", "matmul"}));
  const Value* bias = all(*r.graph, "add")[0]->inputs[1];
  ASSERT_TRUE(bias->is_constant());
  ASSERT_EQ(bias->shape, (Shape{3, 5}));
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      EXPECT_EQ(bias->constant->scalar_at(i * 5 + j), j <= i ? 0.0 : -kInf) << i << "," << j;
    }
  }
}

TEST(AttentionLowering, ComputedBoolMaskBecomesMinusInfAndZeroesFullyMaskedRows) {
  Torch t;
  Value* q = t.input("q", {2, 3, 4});
  Value* m = t.input("mask", {3, 3}, DType::kBool);
  auto y =
      t.call("aten.scaled_dot_product_attention.default",
             {{"query", q}, {"key", q}, {"value", q}, {"attn_mask", m}}, sdpa_attrs(), {{2, 3, 4}});
  auto r = t.lower_all(y);
  ASSERT_LOWERED(r);
  EXPECT_EQ(ops(*r.graph),
            (Ops{"where", "mul", "matmul", "add", "softmax", "max", "equal", "where", "matmul"}));
  auto where = all(*r.graph, "where");
  // SDPA's convention: true attends -> 0, false -> -inf, as PyTorch converts it.
  EXPECT_EQ(where[0]->inputs[0], r.graph->inputs[1]);
  EXPECT_EQ(where[0]->inputs[1]->constant->scalar_at(0), 0.0);
  EXPECT_EQ(where[0]->inputs[2]->constant->scalar_at(0), -kInf);
  // The row check reads the [L, S] mask, not the scores.
  const Node* max = all(*r.graph, "max")[0];
  EXPECT_EQ(max->inputs[0], where[0]->outputs[0]);
  EXPECT_EQ(max->outputs[0]->shape, (Shape{3, 1}));
  EXPECT_EQ(where[1]->inputs[1]->constant->scalar_at(0), 0.0);
  EXPECT_EQ(where[1]->inputs[2]->producer->op, "softmax");
}

TEST(AttentionLowering, ConstantMaskWithAFullyMaskedRowKnowsItsRows) {
  Torch u;
  Value* q = u.input("q", {2, 2, 3});
  Value* k = u.input("k", {2, 3, 3});
  Value* m = u.constant("mask", bools({2, 3}, {1, 0, 1, 0, 0, 0}));  // row 1 attends nothing
  auto y =
      u.call("torch.nn.functional.scaled_dot_product_attention",
             {{"query", q}, {"key", k}, {"value", k}, {"attn_mask", m}}, sdpa_attrs(), {{2, 2, 3}});
  auto r = u.lower_all(y);
  ASSERT_LOWERED(r);
  EXPECT_EQ(ops(*r.graph), (Ops{"mul", "matmul", "add", "softmax", "where", "matmul"}));
  const Value* rows = all(*r.graph, "where")[0]->inputs[0];
  ASSERT_TRUE(rows->is_constant());
  EXPECT_EQ(rows->shape, (Shape{2, 1}));
  EXPECT_EQ(rows->constant->scalar_at(0), 0.0);
  EXPECT_EQ(rows->constant->scalar_at(1), 1.0);
}

TEST(AttentionLowering, SdpaRefusesDropout) {
  Torch t;
  Value* q = t.input("q", {1, 3, 4});
  Attrs a = sdpa_attrs();
  a.set("dropout_p", 0.1);
  auto y = t.call("torch.nn.functional.scaled_dot_product_attention",
                  {{"query", q}, {"key", q}, {"value", q}}, a, {{1, 3, 4}});
  auto r = t.lower_all(y);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("dropout_p"), std::string::npos);
}

TEST(AttentionLowering, MaskedFillFoldsConstantsAndIsWhereOtherwise) {
  Torch t;
  Value* bool_mask = t.constant("m", bools({2, 2}, {0, 1, 1, 0}));
  Attrs like;
  like.set("dtype", std::string("float32"));
  auto zeros = t.call("torch.zeros_like", {{"input", bool_mask}}, like, {{2, 2}});
  Attrs fill;
  fill.set("value", -kInf);
  auto folded = t.call("torch.Tensor.masked_fill_", {{"input", zeros[0]}, {"mask", bool_mask}},
                       fill, {{2, 2}});
  Value* x = t.input("x", {2, 2});
  auto computed =
      t.call("aten.masked_fill.Scalar", {{"input", x}, {"mask", bool_mask}}, fill, {{2, 2}});
  auto r = t.lower_all({folded[0], computed[0]});
  ASSERT_LOWERED(r);
  EXPECT_EQ(ops(*r.graph), Ops{"where"});
  const Value* c = r.graph->outputs[0];
  ASSERT_TRUE(c->is_constant());
  EXPECT_EQ(c->constant->scalar_at(0), 0.0);
  EXPECT_EQ(c->constant->scalar_at(1), -kInf);
  const Node* w = all(*r.graph, "where")[0];
  EXPECT_EQ(w->inputs[1]->constant->scalar_at(0), -kInf);
  EXPECT_EQ(w->inputs[2], r.graph->inputs[0]);
}

constexpr int64_t E = 8, H = 2, L = 3, B = 2;

Attrs mha_attrs(bool need_weights) {
  Attrs a;
  a.set("embed_dim_to_check", E);
  a.set("num_heads", H);
  a.set("add_zero_attn", false);
  a.set("dropout_p", 0.0);
  a.set("training", false);
  a.set("need_weights", need_weights);
  a.set("use_separate_proj_weight", false);
  a.set("average_attn_weights", true);
  a.set("is_causal", false);
  return a;
}

struct MhaCall {
  Torch t;
  Value* w = t.constant("in_proj_weight", iota({3 * E, E}, 0.01f));
  Value* b = t.constant("in_proj_bias", iota({3 * E}, 0.1f));
  Value* ow = t.constant("out_proj_weight", iota({E, E}, 0.02f));
  Value* ob = t.constant("out_proj_bias", iota({E}));

  std::vector<Value*> run(Value* x, Attrs attrs, std::vector<Shape> outs,
                          std::vector<std::pair<std::string, Value*>> extra = {}) {
    std::vector<std::pair<std::string, Value*>> args = {
        {"query", x},          {"key", x},          {"value", x},
        {"in_proj_weight", w}, {"in_proj_bias", b}, {"out_proj_weight", ow},
        {"out_proj_bias", ob}};
    args.insert(args.end(), extra.begin(), extra.end());
    return t.call("torch.nn.functional.multi_head_attention_forward", args, std::move(attrs),
                  std::move(outs));
  }
};

TEST(AttentionLowering, MultiHeadAttentionSequenceFirst) {
  MhaCall c;
  Value* x = c.t.input("x", {L, B, E});
  auto y = c.run(x, mha_attrs(false), {{L, B, E}});
  auto r = c.t.lower_all(y);
  ASSERT_LOWERED(r);
  EXPECT_EQ(ops(*r.graph), (Ops{"dense", "reshape", "transpose", "dense", "reshape", "transpose",
                                "dense", "reshape", "transpose", "matmul", "softmax", "matmul",
                                "transpose", "reshape", "dense"}));
  // Four transposes: q, k, v to [B, h, L, d] straight from [L, B, h, d], and the merge.
  auto tr = all(*r.graph, "transpose");
  ASSERT_EQ(tr.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tr[i]->attrs.get_ints("perm"), (Ints{1, 2, 0, 3}));
  EXPECT_EQ(tr[3]->attrs.get_ints("perm"), (Ints{2, 0, 1, 3}));
  EXPECT_EQ(tr[0]->outputs[0]->shape, (Shape{B, H, L, E / H}));
  // q's kernel is W[0:E]^T times 1/sqrt(d) = 0.5; k's is W[E:2E]^T unscaled. Kernels are
  // [in, out] in a fixed layout.
  auto dense = all(*r.graph, "dense");
  const Value* kq = dense[0]->inputs[1];
  const Value* kk = dense[1]->inputs[1];
  EXPECT_EQ(kq->layout, Layout::kFixed);
  ASSERT_EQ(kq->shape, (Shape{E, E}));
  // kernel[i, o] = W[first + o, i] = 0.01 * ((first + o) * E + i)
  EXPECT_FLOAT_EQ(kq->constant->scalar_at(1 * E + 2), 0.5f * 0.01f * (2 * E + 1));
  EXPECT_FLOAT_EQ(kk->constant->scalar_at(1 * E + 2), 0.01f * ((E + 2) * E + 1));
  EXPECT_FLOAT_EQ(dense[0]->inputs[2]->constant->scalar_at(3), 0.5f * 0.1f * 3);
  EXPECT_FLOAT_EQ(dense[2]->inputs[2]->constant->scalar_at(3), 0.1f * (2 * E + 3));
  // No mask: nothing between the scores and the softmax.
  EXPECT_EQ(count(*r.graph, "add"), 0);
}

TEST(AttentionLowering, BatchFirstSwapsFoldAway) {
  // nn.MultiheadAttention(batch_first=True): transpose(1, 0) -> F.mha_forward -> transpose.
  MhaCall c;
  Value* x = c.t.input("x", {B, L, E});
  Attrs swap;
  swap.set("dim0", int64_t{1});
  swap.set("dim1", int64_t{0});
  auto xt = c.t.call("torch.Tensor.transpose", {{"input", x}}, swap, {{L, B, E}});
  auto y = c.run(xt[0], mha_attrs(false), {{L, B, E}});
  auto out = c.t.call("torch.Tensor.transpose", {{"input", y[0]}}, swap, {{B, L, E}});
  auto r = c.t.lower_all(out);
  ASSERT_LOWERED(r);
  cleanup(*r.graph);
  auto tr = all(*r.graph, "transpose");
  ASSERT_EQ(tr.size(), 4u);
  for (const Node* n : tr) EXPECT_EQ(n->attrs.get_ints("perm"), (Ints{0, 2, 1, 3}));
  EXPECT_EQ(all(*r.graph, "dense")[0]->inputs[0], r.graph->inputs[0]);
  EXPECT_EQ(r.graph->outputs[0]->producer->op, "dense");
}

TEST(AttentionLowering, KeyPaddingMaskWithWeights) {
  MhaCall c;
  Value* x = c.t.input("x", {L, B, E});
  Value* kpm = c.t.input("kpm", {B, L}, DType::kBool);
  auto y = c.run(x, mha_attrs(true), {{L, B, E}, {B, L, L}}, {{"key_padding_mask", kpm}});
  auto r = c.t.lower_all(y);
  ASSERT_LOWERED(r);
  // [B, S] -> [B, 1, 1, S]; true (padded) -> -inf. need_weights=True is bmm + softmax in
  // PyTorch: a fully padded row stays NaN, so no row check.
  EXPECT_EQ(count(*r.graph, "max"), 0);
  const Node* w = all(*r.graph, "where")[0];
  EXPECT_EQ(w->inputs[0]->shape, (Shape{B, 1, 1, L}));
  EXPECT_EQ(w->inputs[1]->constant->scalar_at(0), -kInf);
  EXPECT_EQ(w->inputs[2]->constant->scalar_at(0), 0.0);
  // Weights averaged over heads: mean over axis 1 of [B, h, L, S].
  const Node* mean = all(*r.graph, "mean")[0];
  EXPECT_EQ(mean->attrs.get_ints("axes"), Ints{1});
  EXPECT_EQ(r.graph->outputs[1], mean->outputs[0]);
  // sqrt(1 / d) for the bmm path: q's bias element 1 is 0.1 * 0.5.
  EXPECT_FLOAT_EQ(all(*r.graph, "dense")[0]->inputs[2]->constant->scalar_at(1), 0.05f);
}

TEST(AttentionLowering, UnsupportedMultiHeadAttentionFeaturesAreRefused) {
  MhaCall c;
  Value* x = c.t.input("x", {L, B, E});
  Value* bias_k = c.t.constant("bias_k", iota({1, 1, E}));
  auto y = c.run(x, mha_attrs(false), {{L, B, E}}, {{"bias_k", bias_k}, {"bias_v", bias_k}});
  auto r = c.t.lower_all(y);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("bias_k"), std::string::npos);

  MhaCall d;
  Value* x2 = d.t.input("x", {L, B, E});
  Value* w = d.t.input("w", {3 * E, E});
  auto y2 = d.t.call(
      "torch.nn.functional.multi_head_attention_forward",
      {{"query", x2}, {"key", x2}, {"value", x2}, {"in_proj_weight", w}, {"out_proj_weight", d.ow}},
      mha_attrs(false), {{L, B, E}});
  auto r2 = d.t.lower_all(y2);
  ASSERT_EQ(r2.errors.size(), 1u);
  EXPECT_NE(r2.errors[0].message.find("constant weights"), std::string::npos);
}

TEST(AttentionLowering, EncoderLayerFastPathPreNorm) {
  Torch t;
  Value* x = t.input("src", {B, L, E});
  std::vector<std::pair<std::string, Value*>> args = {{"src", x}};
  auto add = [&](const std::string& name, Shape shape) {
    args.push_back({name, t.constant(name, iota(std::move(shape), 0.01f))});
  };
  add("qkv_weight", {3 * E, E});
  add("qkv_bias", {3 * E});
  add("proj_weight", {E, E});
  add("proj_bias", {E});
  for (const char* n : {"1", "2"}) {
    add(std::string("norm_weight_") + n, {E});
    add(std::string("norm_bias_") + n, {E});
  }
  add("ffn_weight_1", {16, E});
  add("ffn_bias_1", {16});
  add("ffn_weight_2", {E, 16});
  add("ffn_bias_2", {E});
  Attrs a;
  a.set("embed_dim", E);
  a.set("num_heads", H);
  a.set("use_gelu", true);
  a.set("norm_first", true);
  a.set("eps", 1e-5);
  auto y = t.call("torch._transformer_encoder_layer_fwd", args, a, {{B, L, E}});
  auto r = t.lower_all(y);
  ASSERT_LOWERED(r);
  const Ops got = ops(*r.graph);
  const Ops tail = {"layer_norm", "dense", "gelu", "dense", "add"};
  EXPECT_EQ(got.front(), "layer_norm");
  EXPECT_EQ(Ops(got.end() - 5, got.end()), tail);
  EXPECT_EQ(count(*r.graph, "transpose"), 4);
  EXPECT_EQ(count(*r.graph, "layer_norm"), 2);
}

}  // namespace
}  // namespace ferry
