#include "tflite/writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tflite/writer_impl.h"

namespace ferry::tflite {

WriteResult write_tflite_model(const Graph& graph, const WriteOptions& options) {
  return detail::Writer(graph, options).run();
}

std::string write_tflite(const Graph& graph, const WriteOptions& options) {
  return write_tflite_model(graph, options).bytes();
}

uint64_t WriteResult::size() const { return model->size(); }

bool WriteResult::external_buffers() const { return model->external_buffers(); }

std::string WriteResult::bytes() const { return model->bytes(); }

void WriteResult::write_file(const std::string& path) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"),
                                                       &std::fclose);
  if (!file)
    throw TfliteError("TFLite writer: cannot open '" + path +
                      "' for writing: " + std::strerror(errno));
  model->write(file.get());
  if (std::fclose(file.release()) != 0)
    throw TfliteError("TFLite writer: closing '" + path + "' failed: " + std::strerror(errno));
}

}  // namespace ferry::tflite
