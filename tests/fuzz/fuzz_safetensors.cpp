// fuzz-sources: engine/safetensors.cpp engine/file_io.cpp
// Arbitrary bytes through safetensors::parse: anything may throw
// cadenza::Error, nothing may crash, read out of bounds, or allocate more
// than the input justifies. Whatever parses must serialize and parse back to
// the same contents (the writer and the reader agree on every valid file).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/safetensors.h"
#include "engine/tensor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace st = cadenza::safetensors;
  st::Contents c;
  try {
    c = st::parse(data, size, "fuzz");
  } catch (const cadenza::Error&) {
    return 0;
  }
  std::string again = st::serialize(c);  // must not throw on parsed contents
  st::Contents d =
      st::parse(reinterpret_cast<const uint8_t*>(again.data()), again.size(), "fuzz-reserialized");
  if (d.metadata != c.metadata || d.tensors.size() != c.tensors.size()) std::abort();
  for (const st::Entry& e : c.tensors) {
    const st::Entry* f = d.find(e.name);
    if (!f || f->dtype != e.dtype || f->shape != e.shape || f->bytes != e.bytes) std::abort();
  }
  return 0;
}
