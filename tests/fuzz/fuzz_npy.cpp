// fuzz-sources: engine/npy.cpp engine/file_io.cpp
// Arbitrary bytes through npy::parse (the reader behind `sample wavenet
// --mel x.npy`): anything may throw cadenza::Error, nothing may crash, read
// out of bounds or allocate more than the input holds; whatever parses has
// exactly the data its shape and dtype say.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/npy.h"
#include "engine/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    cadenza::npy::Array a = cadenza::npy::parse(data, size, "fuzz");
    size_t n = a.descr == "<f8" || a.descr == "<i8" ? 8 : 4;
    for (int64_t d : a.shape) n *= static_cast<size_t>(d);
    if (n != a.bytes.size()) std::abort();
  } catch (const cadenza::Error&) {
  }
  return 0;
}
