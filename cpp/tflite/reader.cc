#include "tflite/reader.h"

#include <algorithm>

#include "tflite/ferry_tflite_generated.h"

namespace ferry::tflite {
namespace {

namespace fb = ferry::tflite_fb;

[[noreturn]] void bad(const std::string& why) {
  throw TfliteFormatError("not a valid TFLite flatbuffer: " + why);
}

std::string op_name(int32_t code) {
  const char* name = fb::EnumNameBuiltinOperator(static_cast<fb::BuiltinOperator>(code));
  return name && *name ? name : "BUILTIN_" + std::to_string(code);
}

std::string activation_name(fb::ActivationFunctionType act) {
  const char* name = fb::EnumNameActivationFunctionType(act);
  return name && *name ? name : "ACTIVATION_" + std::to_string(static_cast<int>(act));
}

// An options table that is absent although its type is set reads as the table's defaults, as
// TFLite's own parser reads it: no fused activation.
template <typename Options>
std::string activation_of(const Options* options) {
  return activation_name(options ? options->fused_activation_function()
                                 : fb::ActivationFunctionType_NONE);
}

// The fused activation of the options Ferry writes, "" for options without one.
std::string fused_activation(const fb::Operator* op) {
  switch (op->builtin_options_type()) {
    case fb::BuiltinOptions_Conv2DOptions:
      return activation_of(op->builtin_options_as_Conv2DOptions());
    case fb::BuiltinOptions_DepthwiseConv2DOptions:
      return activation_of(op->builtin_options_as_DepthwiseConv2DOptions());
    case fb::BuiltinOptions_FullyConnectedOptions:
      return activation_of(op->builtin_options_as_FullyConnectedOptions());
    case fb::BuiltinOptions_AddOptions:
      return activation_of(op->builtin_options_as_AddOptions());
    case fb::BuiltinOptions_MulOptions:
      return activation_of(op->builtin_options_as_MulOptions());
    case fb::BuiltinOptions_SubOptions:
      return activation_of(op->builtin_options_as_SubOptions());
    case fb::BuiltinOptions_DivOptions:
      return activation_of(op->builtin_options_as_DivOptions());
    case fb::BuiltinOptions_Conv3DOptions:
      return activation_of(op->builtin_options_as_Conv3DOptions());
    case fb::BuiltinOptions_ConcatenationOptions:
      return activation_of(op->builtin_options_as_ConcatenationOptions());
    case fb::BuiltinOptions_Pool2DOptions:
      return activation_of(op->builtin_options_as_Pool2DOptions());
    default:
      return "";
  }
}

std::vector<int32_t> ints(const flatbuffers::Vector<int32_t>* v) {
  return v ? std::vector<int32_t>(v->begin(), v->end()) : std::vector<int32_t>{};
}

}  // namespace

TfliteModelInfo read_tflite(const void* data, size_t size) {
  auto bytes = static_cast<const uint8_t*>(data);
  if (size < 8) bad("only " + std::to_string(size) + " bytes");
  if (!fb::ModelBufferHasIdentifier(bytes)) bad("the file identifier is not \"TFL3\"");
  // The flatbuffer itself is below 2 GiB; in the large-model layout the weights follow it and
  // are checked against the file's size below, not by the verifier (which asserts a length
  // strictly below the limit).
  const size_t flatbuffer_limit = std::min<size_t>(size, FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  flatbuffers::Verifier verifier(bytes, flatbuffer_limit);
  if (!fb::VerifyModelBuffer(verifier))
    bad("the flatbuffer verifier rejected it (truncated or corrupted)");
  const fb::Model* model = fb::GetModel(bytes);

  TfliteModelInfo info;
  info.version = model->version();
  const auto* buffers = model->buffers();
  info.num_buffers = buffers ? buffers->size() : 0;
  if (buffers) {
    for (uint32_t i = 0; i < buffers->size(); ++i) {
      const fb::Buffer* b = buffers->Get(i);
      if (b->data() && b->data()->size() > 0) {
        info.buffer_offsets.push_back(static_cast<size_t>(b->data()->data() - bytes));
      } else if (b->offset() > 1) {
        // Data after the flatbuffer: it must lie inside the file.
        if (b->offset() > size || b->size() > size - b->offset())
          bad("buffer " + std::to_string(i) + " (" + std::to_string(b->size()) +
              " bytes at offset " + std::to_string(b->offset()) + ") lies outside the " +
              std::to_string(size) + "-byte file");
        info.buffer_offsets.push_back(static_cast<size_t>(b->offset()));
        info.external_buffers = true;
      }
    }
  }
  auto buffer_size = [&](uint32_t index) -> size_t {
    if (!buffers || index >= buffers->size())
      bad("buffer index " + std::to_string(index) + " out of range");
    const fb::Buffer* b = buffers->Get(index);
    if (b->data()) return b->data()->size();
    return b->offset() > 1 ? static_cast<size_t>(b->size()) : 0;
  };
  auto buffer_bytes = [&](uint32_t index) -> const uint8_t* {
    const fb::Buffer* b = buffers->Get(index);
    return b->data() ? b->data()->data() : bytes + b->offset();
  };
  const auto* codes = model->operator_codes();
  const auto* subgraphs = model->subgraphs();
  if (!subgraphs || subgraphs->size() == 0) bad("no subgraph");
  const fb::SubGraph* sg = subgraphs->Get(0);
  const size_t num_tensors = sg->tensors() ? sg->tensors()->size() : 0;
  if (sg->tensors()) {
    for (const fb::Tensor* t : *sg->tensors()) {
      TfliteTensor out;
      out.name = t->name() ? t->name()->str() : "";
      out.shape = ints(t->shape());
      const char* type = fb::EnumNameTensorType(t->type());
      out.dtype = type && *type ? type : "TYPE_" + std::to_string(static_cast<int>(t->type()));
      out.buffer = t->buffer();
      out.buffer_size = buffer_size(t->buffer());
      info.tensors.push_back(std::move(out));
    }
  }
  auto check_tensors = [&](const std::vector<int32_t>& indices, const char* what) {
    for (int32_t i : indices)
      if (i < -1 || i >= static_cast<int32_t>(num_tensors))
        bad(std::string(what) + " refers to tensor " + std::to_string(i) + " of " +
            std::to_string(num_tensors));
  };
  info.inputs = ints(sg->inputs());
  info.outputs = ints(sg->outputs());
  check_tensors(info.inputs, "the subgraph's inputs");
  check_tensors(info.outputs, "the subgraph's outputs");
  if (sg->operators()) {
    for (const fb::Operator* op : *sg->operators()) {
      if (!codes || op->opcode_index() >= codes->size())
        bad("operator code index " + std::to_string(op->opcode_index()) + " out of range");
      const fb::OperatorCode* code = codes->Get(op->opcode_index());
      TfliteOp out;
      // Readers take the larger of the two fields (old writers only set the deprecated one).
      out.code = std::max<int32_t>(code->builtin_code(), code->deprecated_builtin_code());
      out.name = op_name(out.code);
      out.version = code->version();
      out.fused_activation = fused_activation(op);
      out.inputs = ints(op->inputs());
      out.outputs = ints(op->outputs());
      check_tensors(out.inputs, "an operator's input");
      check_tensors(out.outputs, "an operator's output");
      info.ops.push_back(std::move(out));
    }
  }
  if (const auto* sigs = model->signature_defs()) {
    for (const fb::SignatureDef* s : *sigs) {
      info.signature_keys.push_back(s->signature_key() ? s->signature_key()->str() : "");
      if (info.signature_keys.size() > 1) continue;
      auto maps = [&](const flatbuffers::Vector<flatbuffers::Offset<fb::TensorMap>>* v,
                      std::vector<std::pair<std::string, uint32_t>>& into) {
        if (!v) return;
        for (const fb::TensorMap* m : *v)
          into.emplace_back(m->name() ? m->name()->str() : "", m->tensor_index());
      };
      maps(s->inputs(), info.signature_inputs);
      maps(s->outputs(), info.signature_outputs);
    }
  }
  if (const auto* meta = model->metadata()) {
    for (const fb::Metadata* m : *meta) {
      size_t n = buffer_size(m->buffer());
      info.metadata.emplace_back(
          m->name() ? m->name()->str() : "",
          n ? std::string(reinterpret_cast<const char*>(buffer_bytes(m->buffer())), n) : "");
    }
  }
  return info;
}

}  // namespace ferry::tflite
