// Rules at free sizes: sizes computed at run time from the graph input that holds each symbol.
#include <gtest/gtest.h>

#include <limits>
#include <memory>

#include "lowering_fixture.h"

namespace ferry {
namespace {

using namespace lower_test;

class FreeSizesTest : public LoweringTest {
 protected:
  FreeSizesTest() {
    torch_.symbols = std::make_shared<SymbolTable>();
    torch_.symbols->add_symbol({"t", 0, 1, 9});
    t_ = torch_.symbols->add({DimOp::kSymbol, 0, {}});
    third_ = torch_.symbols->add({DimOp::kFloorDiv, -1, {{t_, 0}, {-1, 3}}});
    rest_ = torch_.symbols->add({DimOp::kAdd, -1, {{t_, 0}, {third_, 0}}});
  }
  // x [2, t, 4], t traced at 9.
  Value* sequence() {
    Value* x = input(DType::kFloat32, {2, 9, 4});
    x->sym = {-1, t_, -1};
    return x;
  }
  int32_t t_ = -1, third_ = -1, rest_ = -1;
};

TEST_F(FreeSizesTest, ABoundThatFollowsAFreeSizeIsComputedOnceAtRunTime) {
  // x[:, t // 3:] and, reading the same size again, x[:, : t // 3].
  Value* x = sequence();
  const int64_t end = std::numeric_limits<int32_t>::max();
  auto index = [&](Ints begin, Ints end_, Ints begin_expr, Ints end_expr, Ints shape, Ints sym) {
    return attrs({{"free_begin", begin},
                  {"free_end", end_},
                  {"step", Ints{1, 1, 1}},
                  {"begin_expr", begin_expr},
                  {"end_expr", end_expr},
                  {"slice_shape", shape},
                  {"slice_sym", sym},
                  {"squeeze_dims", Ints{}}});
  };
  call("torch.Tensor.__getitem__", {{"input", x}},
       index({0, 0, 0}, {end, end, end}, {-1, third_, -1}, {-1, -1, -1}, {2, 6, 4}, {-1, -1, -1}),
       DType::kFloat32, {2, 6, 4});
  call("torch.Tensor.__getitem__", {{"input", x}},
       index({0, 0, 0}, {end, 0, end}, {-1, -1, -1}, {-1, third_, -1}, {2, 3, 4}, {-1, -1, -1}),
       DType::kFloat32, {2, 3, 4});
  ASSERT_EQ(lower_ops(), Ops({"dims", "floor_div", "slice", "slice"}));
  EXPECT_EQ(node(0)->attrs.get_ints("axes"), Ints({1}));
  EXPECT_EQ(node(0)->inputs[0], result_.graph->inputs[0]);
  const Node* first = node(2);
  EXPECT_EQ(first->attrs.get_ints("begin_from"), Ints({-1, 1, -1}));
  EXPECT_EQ(first->attrs.get_ints("begin")[1], 3);  // the traced value, for the record
  EXPECT_EQ(first->inputs[1], node(1)->outputs[0]);
  EXPECT_EQ(node(3)->attrs.get_ints("end_from"), Ints({-1, 1, -1}));
  EXPECT_EQ(node(3)->inputs[1], node(1)->outputs[0]);  // the same size, not computed again
}

TEST_F(FreeSizesTest, ArangeToAFreeSizeIsARangeAtRunTime) {
  Value* x = sequence();
  Node* arange = call("torch.arange", {}, attrs({{"end", int64_t{12}}, {"end_expr", Ints{rest_}}}),
                      DType::kInt64, {12});
  arange->sym_args = {"end"};
  torch_.outputs.back()->sym = {rest_};
  call("torch.relu", {{"input", x}}, {}, DType::kFloat32, {2, 9, 4});
  torch_.outputs.back()->sym = {-1, t_, -1};
  ASSERT_EQ(lower_ops(), Ops({"dims", "floor_div", "add", "reshape", "range", "cast", "relu"}));
  const Node* range = node(4);
  EXPECT_EQ(range->outputs[0]->sym, SymDims({rest_}));
  EXPECT_TRUE(range->inputs[0]->is_constant());
  EXPECT_FALSE(range->inputs[1]->is_constant());
}

TEST_F(FreeSizesTest, ARecurrentLayerRefusesAFreeBatch) {
  Value* x = input(DType::kFloat32, {2, 9, 4});
  x->sym = {t_, -1, -1};
  call("torch.nn.modules.rnn.LSTM", {{"input", x}},
       attrs({{"hidden_size", int64_t{3}},
              {"num_layers", int64_t{1}},
              {"batch_first", true},
              {"bidirectional", false},
              {"bias", false}}),
       DType::kFloat32, {2, 9, 3});
  lower_ops();
  expect_error("not a free batch yet");
}

}  // namespace
}  // namespace ferry
