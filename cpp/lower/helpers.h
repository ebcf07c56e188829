#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "lower/registry.h"

namespace ferry {

// PyTorch accepts `stride=2` for `stride=(2, 2)`: expand a scalar or 1-list to `rank` entries.
std::vector<int64_t> expand_ints(const Attrs& attrs, const std::string& name, size_t rank,
                                 int64_t fallback);
// Wraps a negative axis; throws LowerError when out of range.
int64_t normalize_axis(int64_t axis, size_t rank);
// NumPy/PyTorch broadcasting of two shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b);
// Every op-name spelling a PyTorch function is traced under: torch.X, torch.Tensor.X,
// torch.nn.functional.X, with optional in-place `_` variants and aten overloads.
std::vector<std::string> function_aliases(const std::string& name, bool functional,
                                          bool tensor_method, bool torch_namespace);

// Lists of op names, joined: rules register every spelling of a call at once.
std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b);
// torch.X, Tensor.X and aten.X.<overload> for each of the given overloads.
std::vector<std::string> torch_names(const std::string& name,
                                     const std::vector<std::string>& aten_overloads);

// Registers one elementwise unary op under all its names: PyTorch `name` -> TF-level `tf_op`.
void add_unary(Registry& registry, const std::string& name, const std::string& tf_op,
               std::vector<std::string> extra_ops = {});

// Emits `reshape` of x to `shape` (x's dtype).
Value* emit_reshape(LowerContext& ctx, Value* x, Shape shape);
// Free sizes (ir/dims.h). The sizes of a broadcast of a and b (right-aligned), and of x
// transposed by `perm`; empty when none is free.
SymDims broadcast_sym(const Value& a, const Value& b);
// The same for dims alone (empty `sym`: all fixed) of the given ranks.
SymDims broadcast_sym(const SymDims& a, size_t rank_a, const SymDims& b, size_t rank_b);
SymDims permuted_sym(const Value& x, const std::vector<int64_t>& perm);
// A reshape whose target has these free sizes: -1 for one; for several, the target is built
// at run time, each free size read from a dim of x with the same size, one other left to -1
// and the rest computed (LowerContext::size_value).
Value* emit_sized_reshape(LowerContext& ctx, Value* x, Shape shape, SymDims sym);
// Free sizes: 0, 1, ..., n-1 as int32 [n], a constant where n is fixed, else a `range` to the
// run-time value of expression `sym` (its traced value `n`).
Value* emit_iota(LowerContext& ctx, int64_t n, int32_t sym);
// An int32 0-d value: the run-time value of expression `sym`, or the constant `value`.
Value* emit_size_scalar(LowerContext& ctx, int64_t value, int32_t sym);
// A tensor of `shape` (free where `sym` says) filled with the 0-d `value`, made at run time.
Value* emit_fill(LowerContext& ctx, Value* value, const Shape& shape, const SymDims& sym);
// x broadcast to `shape` (NumPy rules): unit dims first added in front when x has fewer, so
// the layout stage sees operand and result at the same rank. x itself for the same shape.
Value* emit_broadcast_to(LowerContext& ctx, Value* x, const Shape& shape);
// Emits a CONSTANT `pad` of x filled with `value`; `pads` is [before0, after0, before1, ...] in
// PyTorch dim order. Returns x itself when every entry is zero. `below_all`: the filling only
// has to lie below every value of x (a max pooling's padding, which no max may pick): a back end
// may fill with x's own minimum instead of `value`.
Value* emit_constant_pad(LowerContext& ctx, Value* x, const std::vector<int64_t>& pads,
                         double value, bool below_all = false);
// Channels-last ops need [N, C, *spatial]; PyTorch also takes an unbatched [C, *spatial].
// Returns x, with a unit batch dim added (a reshape) when it is missing.
Value* with_batch_dim(LowerContext& ctx, Value* x, size_t spatial_rank, const std::string& what);
// Binds PyTorch output i to y, reshaping first when the shapes differ in unit dims only (a
// batch dim added by with_batch_dim, say); any other difference is an internal error.
void set_output_reshaped(LowerContext& ctx, Value* y, size_t i = 0);

// x converted to `dtype` by a `cast`, or x itself when it already has that type. Rules use it
// where PyTorch's type promotion changes an operand's type.
Value* cast_to(LowerContext& ctx, Value* x, DType dtype);
// A 0-d constant. Unlike LowerContext::scalar it also encodes float16 and bfloat16 (rounded to
// nearest even, as PyTorch converts a Python float).
Value* typed_scalar(LowerContext& ctx, double value, DType dtype);
// The same for a Python int, which stays exact in an int64 constant even above 2^53.
Value* typed_int_scalar(LowerContext& ctx, int64_t value, DType dtype);

// The lowest value of a dtype (-inf for floating point, 0 for uint8 and bool): never the
// maximum of anything, so it pads max pooling and starts a running maximum.
double lowest_value(DType dtype);

// A Python number argument as a 0-d constant of `dtype` (ints stay exact).
Value* number(LowerContext& ctx, const Attr& attr, DType dtype);
// A tensor or Python-number argument, in `dtype`; throws LowerError when it is None.
Value* operand(LowerContext& ctx, const std::string& arg, DType dtype);

// Splitting and stacking. Sizes of the pieces `split(split_size)` cuts a dim of `size` into:
// full pieces and a shorter last one (one empty piece for an empty dim, as PyTorch returns).
std::vector<int64_t> split_sizes(int64_t size, int64_t split_size);
// The pieces of `chunk(chunks)`: PyTorch splits by ceil(size / chunks), so it may return fewer
// than `chunks` pieces (but `chunks` empty ones for an empty dim).
std::vector<int64_t> chunk_sizes(int64_t size, int64_t chunks);
// Where each piece starts; throws LowerError unless the sizes add up to `size`.
std::vector<int64_t> piece_offsets(const std::vector<int64_t>& sizes, int64_t size);
// x's shape with a unit dim inserted at `axis` (in [0, rank]).
Shape unsqueezed(const Shape& shape, int64_t axis);
// A full-rank `slice` of x keeping [begin, end) of `axis`; x itself when that is all of it.
// A static slice, so the back ends write it as a slice, never a gather.
Value* emit_axis_slice(LowerContext& ctx, Value* x, int64_t axis, int64_t begin, int64_t end);

// PyTorch's pad list ((before, after) pairs from the last dim backwards, covering some trailing
// dims) as [before0, after0, before1, after1, ...] over all `rank` dims; throws LowerError when
// it has an odd length or more pairs than dims.
std::vector<int64_t> pads_by_dim(const std::vector<int64_t>& torch_pads, size_t rank);
// The window adaptive pooling reads for output `i` of `out` along a dim of `in`: PyTorch's
// [floor(i·in/out), ceil((i+1)·in/out)).
std::pair<int64_t, int64_t> adaptive_window(int64_t i, int64_t in, int64_t out);

// Binds PyTorch outputs from `first` on (statistics or indices a call also returns) to zero
// placeholders that dead-code elimination removes, after checking that nothing reads them;
// a read one is refused, naming `what` it holds.
void bind_unread_outputs(LowerContext& ctx, size_t first, const std::string& call,
                         const std::string& what);

// The argument a call's main tensor is bound to: `input` for torch functions and methods,
// `self` in aten schemas (the tracer keeps schema names there), `arg0` when the tracer could
// only bind positionally.
std::string self_arg(const LowerContext& ctx);

// Formula emitters for rules that compose a PyTorch function from TF-level elementwise ops.
// The result shape broadcasts the operands; comparisons give bool, everything else a's type.
Value* emit_unary_op(LowerContext& ctx, const std::string& op, Value* x);
Value* emit_binary_op(LowerContext& ctx, const std::string& op, Value* a, Value* b);
Value* emit_select(LowerContext& ctx, Value* cond, Value* a, Value* b);

// Reductions. The call's `dim` (or NumPy's `axis`) as sorted, unique, non-negative axes; None
// or an empty list means every dim. Throws LowerError for a repeated dim.
std::vector<int64_t> reduction_axes(const Attrs& attrs, size_t rank);
// `shape` with `axes` removed, or kept as size 1.
Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& axes, bool keep);
// Emits the TF-level reduction `op` (mean, sum, max, min, prod) over `axes`.
Value* emit_reduction(LowerContext& ctx, const std::string& op, Value* x,
                      const std::vector<int64_t>& axes, bool keep);

// Scans and reorderings. A roll by `shift` along a dim of `size` moves element i to
// (i + shift) mod size; returns that shift in [0, size) (0 for an empty dim).
int64_t normalized_shift(int64_t shift, int64_t size);
// The `[rows, cols]` bool mask tril (`upper` false) or triu keeps: element (i, j) is kept when
// j - i <= diagonal (tril) or j - i >= diagonal (triu).
std::vector<uint8_t> triangle_mask(int64_t rows, int64_t cols, int64_t diagonal, bool upper);

}  // namespace ferry
