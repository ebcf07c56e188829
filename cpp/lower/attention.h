// Shared by the attention rules (attention.cc: scaled dot-product attention and the masks it
// takes; attention_mha.cc: multi-head attention and the Transformer encoder layer).
#pragma once

#include <memory>
#include <vector>

#include "lower/registry.h"

namespace ferry {

// The additive mask of one attention: every part broadcasts against the scores [..., L, S].
// PyTorch turns a boolean mask into a float one (0 where attended, -inf where not) and adds
// it; so does this, which keeps the fully masked rows identifiable (all -inf). Parts that are
// constants (a causal mask, a fixed attn_mask) are combined at conversion time.
class ScoreMask {
 public:
  ScoreMask(LowerContext& ctx, DType dtype) : ctx_(ctx), dtype_(dtype) {}

  // A float mask, added to the scores.
  void add_float(Value* mask);
  // A boolean mask. `true_attends`: SDPA's convention (true takes part); otherwise
  // nn.MultiheadAttention's (true is masked out).
  void add_bool(Value* mask, bool true_attends);
  // Either of the two, by the mask's dtype.
  void add(Value* mask, bool bool_true_attends);
  // SDPA's is_causal: query i attends keys 0..i (top-left aligned when L != S). A length that
  // follows a free size (its expression in `query_sym` / `key_sym`) is compared at run time.
  void add_causal(int64_t query_len, int64_t key_len, int32_t query_sym = -1, int32_t key_sym = -1);

  bool empty() const { return parts_.empty(); }
  // The combined float mask (emitting the adds), or nullptr when there is none.
  Value* bias();
  // [..., L, 1] booleans: true where every key of a query row is masked. nullptr when no row
  // can be (always known for a constant mask; a mask computed at run time is checked at run
  // time).
  Value* fully_masked_rows();

 private:
  LowerContext& ctx_;
  DType dtype_;
  std::vector<Value*> parts_;  // float masks
  bool only_causal_ = true;    // a causal mask alone never masks a whole row (key 0 is seen)
  Value* bias_ = nullptr;
  bool combined_ = false;
};

// Scores q @ k^T (+ mask), softmax over the keys, @ v. q [..., L, d] is already scaled;
// k [..., S, d]; v [..., S, dv]; batch dims broadcast. `safe_softmax` gives fully masked rows
// zero weights instead of NaN, as SDPA does (the bmm + softmax of
// F.multi_head_attention_forward(need_weights=True) and the fused fast-path kernels do not).
struct AttentionResult {
  Value* output = nullptr;   // [..., L, dv]
  Value* weights = nullptr;  // softmax result [..., L, S]
  Value* scores = nullptr;   // masked scores, before the softmax
  Value* fully_masked = nullptr;
};
AttentionResult emit_attention(LowerContext& ctx, Value* q, Value* k, Value* v, ScoreMask& mask,
                               bool safe_softmax);

// Small emitters the attention rules share: the result shape is computed from the operands.
Value* emit_transpose(LowerContext& ctx, Value* x, const std::vector<int64_t>& perm);
Value* emit_binary(LowerContext& ctx, const std::string& op, Value* a, Value* b);
// A constant is reshaped at conversion time; a computed value gets a `reshape`.
Value* reshape_value(LowerContext& ctx, Value* x, Shape shape);
// x * scale, skipped when scale is 1.
Value* emit_scale(LowerContext& ctx, Value* x, double scale);

void register_mha_rules(Registry& registry);

}  // namespace ferry
