// The .npy reader and writer: a round trip, and bad files named with what is
// wrong (the reader is behind `sample wavenet --mel x.npy`).
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/file_io.h"
#include "engine/npy.h"
#include "engine/tensor.h"

using namespace cadenza;

namespace {

std::vector<uint8_t> npy_bytes(const std::string& header, size_t data_bytes) {
  std::string h = header;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(h.size() & 0xff),
                              static_cast<uint8_t>(h.size() >> 8)};
  out.insert(out.end(), h.begin(), h.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

}  // namespace

TEST_CASE("npy: round trip, and bad files named", "[engine][npy]") {
  std::string dir = std::string(CADENZA_BINARY_DIR) + "/test-tmp/npy";
  std::filesystem::create_directories(dir);
  std::vector<float> v = {1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  npy::save(dir + "/a.npy", v, {2, 3});
  npy::Array a = npy::load(dir + "/a.npy");
  REQUIRE(a.descr == "<f4");
  REQUIRE(a.shape == std::vector<int64_t>{2, 3});
  REQUIRE(std::memcmp(a.bytes.data(), v.data(), 24) == 0);

  auto parse = [](const std::vector<uint8_t>& b) { return npy::parse(b.data(), b.size(), "x.npy"); };
  REQUIRE(parse(npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", 32)).shape ==
          std::vector<int64_t>{4});
  REQUIRE_THROWS_WITH(parse({1, 2, 3}), Catch::Contains("'x.npy': not a .npy file"));
  REQUIRE_THROWS_WITH(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 20)),
                      Catch::Contains("data size does not match the shape"));
  // A shape whose product wraps around 64 bits must not pass for a small file.
  REQUIRE_THROWS_WITH(
      parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 0)),
      Catch::Contains("needs more data than the file holds"));
  REQUIRE_THROWS_WITH(parse(npy_bytes("{'descr': '>f2', 'fortran_order': False, 'shape': (1,), }", 2)),
                      Catch::Contains("unsupported dtype '>f2'"));
  REQUIRE_THROWS_WITH(parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (x,), }", 4)),
                      Catch::Contains("not a tuple of integers"));
  REQUIRE_THROWS_WITH(parse(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4)),
                      Catch::Contains("Fortran order"));
  REQUIRE_THROWS_WITH(npy::load(dir + "/missing.npy"), Catch::Contains("missing.npy"));
}
