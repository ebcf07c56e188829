#include "tflite/writer.h"

#include "tflite/writer_impl.h"

namespace ferry::tflite {

std::string write_tflite(const Graph& graph) { return detail::Writer(graph).run(); }

}  // namespace ferry::tflite
