// A GRU over a free number of time steps. TFLite has no GRU builtin and an unrolled GRU has a
// fixed length, so each direction becomes a WHILE loop over the steps, its condition and body
// written here as subgraphs of their own:
//
//   proj = FULLY_CONNECTED(x) reshaped to [B, T, 3H]   every step's input projection at once
//   y = FILL([B, T, H], 0), steps = SHAPE(x)[1], positions = RANGE(0, steps)
//   WHILE t < steps:  (t, h, y, proj, steps, positions)
//     s = t, or steps - 1 - t backward;  x_s = GATHER(proj, [s], axis 1)
//     h = the GRU cell (as unrolled: Cell::gru);  y = SELECT_V2(positions == s, h, y)
//
// Writing a step into y by a select over every position costs O(T) per step; with B, H fixed
// and T the only free size that is O(T^2 H) per sequence, far below the recurrent products'
// O(T H^2) for H above T.
#include <string>
#include <vector>

#include "tflite/recurrent_ops.h"
#include "tflite/writer_impl.h"

namespace ferry::tflite::detail {

void Writer::emit_gru_loop(const Node* n) {
  const int64_t dirs = n->attrs.get_bool("bidirectional") ? 2 : 1;
  const int64_t hidden = n->attrs.get_int("units"), gh = 3 * hidden;
  const Value* x = n->inputs[0];
  const Shape xs = x->physical_shape();
  const SymDims sym = x->physical_sym();
  if (sym[0] >= 0 || sym[2] >= 0) fail(n, "a GRU whose batch or features are free");
  const int64_t batch = xs[0], steps = xs[1], features = xs[2];
  const std::string scope = n->scope.empty() ? n->op : n->scope;
  auto i32 = [](int64_t v) { return static_cast<int32_t>(v); };
  const int32_t free_t = -1;
  // A tensor whose dim 1 (or, for a vector, dim 0) is the free step count.
  auto over_steps = [&](fb::TensorType type, const Shape& shape, const std::string& name) {
    const int t = m_.add_tensor(type, shape, scope + "/" + name);
    std::vector<int32_t> signature;
    for (size_t k = 0; k < shape.size(); ++k)
      signature.push_back(k == (shape.size() == 1 ? 0 : 1) ? free_t : i32(shape[k]));
    m_.set_signature(t, signature);
    return t;
  };
  auto scalar_int = [&](const std::string& name) {
    return m_.add_tensor(fb::TensorType_INT32, {}, scope + "/" + name);
  };
  const Shape bth{batch, steps, hidden}, btg{batch, steps, gh}, bh{batch, hidden};

  // Shared by both directions: the step count and the positions 0 .. steps-1.
  const int shape = m_.add_tensor(fb::TensorType_INT32, {3}, scope + "/x_shape");
  add_op(fb::BuiltinOperator_SHAPE, {tensor(x)}, {shape}, fb::BuiltinOptions_ShapeOptions,
         fb::CreateShapeOptions(m_.fbb(), fb::TensorType_INT32).Union());
  const int count = scalar_int("steps");
  add_op(fb::BuiltinOperator_GATHER, {shape, m_.add_int32({1}, {}, scope + "/time_axis")}, {count},
         fb::BuiltinOptions_GatherOptions, fb::CreateGatherOptions(m_.fbb(), 0).Union());
  const int positions = over_steps(fb::TensorType_INT32, {steps}, "positions");
  add_op(fb::BuiltinOperator_RANGE,
         {m_.add_int32({0}, {}, scope + "/zero"), count, m_.add_int32({1}, {}, scope + "/one")},
         {positions});
  // y's shape: x's with its features replaced by H.
  const int y_dims = m_.add_tensor(fb::TensorType_INT32, {3}, scope + "/y_shape");
  const int bt = m_.add_tensor(fb::TensorType_INT32, {2}, scope + "/batch_and_steps");
  add_op(fb::BuiltinOperator_STRIDED_SLICE,
         {shape, m_.add_int32({0}, {1}, scope + "/begin"), m_.add_int32({2}, {1}, scope + "/end"),
          m_.add_int32({1}, {1}, scope + "/stride")},
         {bt}, fb::BuiltinOptions_StridedSliceOptions,
         fb::CreateStridedSliceOptions(m_.fbb()).Union());
  add_op(fb::BuiltinOperator_CONCATENATION,
         {bt, m_.add_int32({i32(hidden)}, {1}, scope + "/units")}, {y_dims},
         fb::BuiltinOptions_ConcatenationOptions,
         fb::CreateConcatenationOptions(m_.fbb(), 0).Union());

  Ops ops(m_, scope);
  std::vector<int> ys;
  for (int64_t d = 0; d < dirs; ++d) {
    const std::string p = dirs == 1 ? "" : d == 0 ? "forward/" : "backward/";
    const size_t base = static_cast<size_t>(1 + d * 4);
    const Value *h0 = n->inputs[base], *kernel = n->inputs[base + 1], *rec = n->inputs[base + 2],
                *bias = n->inputs[base + 3];
    std::vector<float> in_bias(gh, 0.0f), rec_bias(gh, 0.0f);
    if (bias) {
      // As unrolled: the z and r recurrent biases add to the input's; the h block's stays.
      std::vector<float> b = float_data(n, bias, "the bias");
      for (int64_t j = 0; j < gh; ++j) {
        in_bias[j] = b[j] + (j < 2 * hidden ? b[gh + j] : 0.0f);
        if (j >= 2 * hidden) rec_bias[j] = b[gh + j];
      }
    }
    const int flat = m_.add_tensor(fb::TensorType_FLOAT32, {batch * steps, gh},
                                   scope + "/" + p + "input_proj_rows");
    m_.set_signature(flat, {free_t, i32(gh)});
    const int in_w = ops.kernel(transposed(float_data(n, kernel, "the kernel"), features, gh),
                                {gh, features}, p + "input_weights", kernel_axis(n, 0));
    m_.add_op(fb::BuiltinOperator_FULLY_CONNECTED,
              m_.hybrid_version(in_w, fb::BuiltinOperator_FULLY_CONNECTED, 1),
              {tensor(x), in_w, ops.constant(in_bias, {gh}, p + "input_bias")}, {flat},
              fb::BuiltinOptions_FullyConnectedOptions,
              fb::CreateFullyConnectedOptions(m_.fbb()).Union());
    const int proj = over_steps(fb::TensorType_FLOAT32, btg, p + "input_proj");
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {flat, m_.add_int32({i32(batch), free_t, i32(gh)}, {3}, scope + "/proj_shape")},
              {proj});
    const int y0 = over_steps(fb::TensorType_FLOAT32, bth, p + "y0");
    add_op(fb::BuiltinOperator_FILL, {y_dims, m_.add_float_scalar(0.0f, scope + "/zero_f")}, {y0});
    std::vector<float> zeros(static_cast<size_t>(batch * hidden), 0.0f);
    const int h_init = h0 ? tensor(h0) : ops.constant(zeros, bh, p + "h0");

    // The loop values, in order: t, h, y, proj, steps, positions.
    auto loop_values = [&](const std::string& prefix) {
      return std::vector<int>{scalar_int(prefix + "t"),
                              m_.add_tensor(fb::TensorType_FLOAT32, bh, scope + "/" + prefix + "h"),
                              over_steps(fb::TensorType_FLOAT32, bth, prefix + "y"),
                              over_steps(fb::TensorType_FLOAT32, btg, prefix + "proj"),
                              scalar_int(prefix + "steps"),
                              over_steps(fb::TensorType_INT32, {steps}, prefix + "positions")};
    };
    const int main = m_.current_subgraph();

    const int cond = m_.add_subgraph(scope + "/" + p + "steps_left");
    m_.select_subgraph(cond);
    std::vector<int> in = loop_values(p);
    const int more = m_.add_tensor(fb::TensorType_BOOL, {}, scope + "/" + p + "more");
    add_op(fb::BuiltinOperator_LESS, {in[0], in[4]}, {more});
    m_.set_subgraph_io(in, {more});

    const int body = m_.add_subgraph(scope + "/" + p + "step");
    m_.select_subgraph(body);
    in = loop_values(p);
    const int one = m_.add_int32({1}, {}, scope + "/one");
    int at = in[0];  // the step's position in the sequence
    if (d == 1) {
      const int last = scalar_int(p + "last");
      add_op(fb::BuiltinOperator_SUB, {in[4], one}, {last});
      at = scalar_int(p + "position");
      add_op(fb::BuiltinOperator_SUB, {last, in[0]}, {at});
    }
    const int at1 = m_.add_tensor(fb::TensorType_INT32, {1}, scope + "/" + p + "position_1");
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1, {at, m_.add_int32({1}, {1}, scope + "/one_dim")},
              {at1});
    const int xw3 = ops.tensor({batch, 1, gh}, p + "x_step");
    add_op(fb::BuiltinOperator_GATHER, {in[3], at1}, {xw3}, fb::BuiltinOptions_GatherOptions,
           fb::CreateGatherOptions(m_.fbb(), 1).Union());
    const int xw = ops.tensor({batch, gh}, p + "x_step_rows");
    ops.reshape(xw3, {batch, gh}, xw);
    Cell cell{ops, batch, hidden,
              ops.kernel(transposed(float_data(n, rec, "the recurrent kernel"), hidden, gh),
                         {gh, hidden}, p + "recurrent_weights", kernel_axis(n, 0)),
              ops.constant(rec_bias, {gh}, p + "recurrent_bias")};
    const int h_next = ops.tensor(bh, p + "h_next");
    cell.gru(xw, in[1], h_next, p);
    const int here = over_steps(fb::TensorType_BOOL, {steps}, p + "here");
    add_op(fb::BuiltinOperator_EQUAL, {in[5], at}, {here});
    const int here3 = m_.add_tensor(fb::TensorType_BOOL, {1, steps, 1}, scope + "/" + p + "here3");
    m_.set_signature(here3, {1, free_t, 1});
    m_.add_op(fb::BuiltinOperator_RESHAPE, 1,
              {here, m_.add_int32({1, free_t, 1}, {3}, scope + "/mask_shape")}, {here3});
    const int h3 = ops.tensor({batch, 1, hidden}, p + "h_step");
    ops.reshape(h_next, {batch, 1, hidden}, h3);
    const int y_next = over_steps(fb::TensorType_FLOAT32, bth, p + "y_next");
    add_op(fb::BuiltinOperator_SELECT_V2, {here3, h3, in[2]}, {y_next});
    const int t_next = scalar_int(p + "t_next");
    add_op(fb::BuiltinOperator_ADD, {in[0], one}, {t_next}, fb::BuiltinOptions_AddOptions,
           fb::CreateAddOptions(m_.fbb()).Union());
    m_.set_subgraph_io(in, {t_next, h_next, y_next, in[3], in[4], in[5]});
    m_.select_subgraph(main);

    // The loop's results: the final state is the node's h_n; the sequence y (joined with the
    // other direction's when bidirectional).
    const int y =
        dirs == 1 ? tensor(n->outputs[0]) : over_steps(fb::TensorType_FLOAT32, bth, p + "y");
    std::vector<int> out = loop_values(p + "final_");
    out[1] = tensor(n->outputs[1 + d]);
    out[2] = y;
    m_.add_op(fb::BuiltinOperator_WHILE, 1,
              {m_.add_int32({0}, {}, scope + "/start"), h_init, y0, proj, count, positions},
              std::vector<int32_t>(out.begin(), out.end()), fb::BuiltinOptions_WhileOptions,
              fb::CreateWhileOptions(m_.fbb(), cond, body).Union());
    ys.push_back(y);
  }
  if (dirs == 2) {
    add_op(fb::BuiltinOperator_CONCATENATION, {ys[0], ys[1]}, {tensor(n->outputs[0])},
           fb::BuiltinOptions_ConcatenationOptions,
           fb::CreateConcatenationOptions(m_.fbb(), 2).Union());
  }
}

}  // namespace ferry::tflite::detail
