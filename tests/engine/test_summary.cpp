// Training logs: CRC32C, TFRecord event files, CSV metrics, loss-curve PNG,
// progress display.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/plot.h"
#include "engine/progress.h"
#include "engine/summary.h"
#include "engine/tensor.h"

namespace fs = std::filesystem;
using namespace cadenza;

namespace {

// A fresh directory per test case, so parallel ctest runs do not collide.
std::string scratch_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("cadenza_test_summary_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t get_le(const std::string& s, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(s[pos + i])) << (8 * i);
  return v;
}

// An independent TFRecord reader: checks both masked CRCs of every record.
std::vector<std::string> read_tfrecords(const std::string& bytes) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < bytes.size()) {
    REQUIRE(pos + 12 <= bytes.size());
    const uint64_t len = get_le(bytes, pos, 8);
    const uint32_t len_crc = uint32_t(get_le(bytes, pos + 8, 4));
    REQUIRE(len_crc == crc32c_mask(crc32c(bytes.data() + pos, 8)));
    REQUIRE(pos + 12 + len + 4 <= bytes.size());
    std::string data = bytes.substr(pos + 12, len);
    const uint32_t data_crc = uint32_t(get_le(bytes, pos + 12 + len, 4));
    REQUIRE(data_crc == crc32c_mask(crc32c(data.data(), data.size())));
    out.push_back(data);
    pos += 12 + len + 4;
  }
  return out;
}

// A minimal protobuf decoder: field number -> raw value (varints and fixed
// values as integers, length-delimited as bytes). Repeated fields keep the last.
struct Fields {
  std::map<int, uint64_t> num;
  std::map<int, std::string> bytes;
};

uint64_t get_varint(const std::string& s, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(pos < s.size());
    uint8_t b = uint8_t(s[pos++]);
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

Fields parse_proto(const std::string& s) {
  Fields f;
  size_t pos = 0;
  while (pos < s.size()) {
    const uint64_t key = get_varint(s, pos);
    const int field = int(key >> 3), type = int(key & 7);
    if (type == 0) {
      f.num[field] = get_varint(s, pos);
    } else if (type == 1 || type == 5) {
      const int n = type == 1 ? 8 : 4;
      REQUIRE(pos + n <= s.size());
      f.num[field] = get_le(s, pos, n);
      pos += n;
    } else {
      REQUIRE(type == 2);
      const uint64_t len = get_varint(s, pos);
      REQUIRE(pos + len <= s.size());
      f.bytes[field] = s.substr(pos, len);
      pos += len;
    }
  }
  return f;
}

double as_double(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

float as_float(uint64_t bits) {
  uint32_t b = uint32_t(bits);
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

uint32_t be32(const std::string& s, size_t pos) {
  return uint32_t(uint8_t(s[pos])) << 24 | uint32_t(uint8_t(s[pos + 1])) << 16 |
         uint32_t(uint8_t(s[pos + 2])) << 8 | uint32_t(uint8_t(s[pos + 3]));
}

}  // namespace

TEST_CASE("crc32c matches the Castagnoli check values", "[summary]") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  CHECK(crc32c("", 0) == 0u);
  // iSCSI (RFC 3720) test vectors: 32 zero bytes, 32 0xFF bytes.
  std::string zeros(32, '\0'), ones(32, '\xff');
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  CHECK(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  // Continuing over a split buffer gives the same result as one pass.
  CHECK(crc32c("56789", 5, crc32c("1234", 4)) == 0xE3069283u);
  CHECK(crc32c_mask(0) == 0xa282ead8u);
}

TEST_CASE("tfrecord_frame lays out length, crcs and data", "[summary]") {
  const std::string data = "hello";
  const std::string rec = tfrecord_frame(data);
  REQUIRE(rec.size() == 8 + 4 + data.size() + 4);
  CHECK(get_le(rec, 0, 8) == 5);
  auto records = read_tfrecords(rec);
  REQUIRE(records.size() == 1);
  CHECK(records[0] == data);
}

TEST_CASE("SummaryWriter writes events TensorBoard can parse", "[summary]") {
  const std::string dir = scratch_dir("events") + "/nested/run";  // parents are created
  std::string path;
  {
    SummaryWriter w(dir);
    path = w.path();
    CHECK(fs::path(path).parent_path() == fs::path(dir));
    CHECK(fs::path(path).filename().string().rfind("events.out.tfevents.", 0) == 0);
    w.add_scalar("train/loss", 2.5, 10, 1700000000.25);
    w.add_scalar("val/nll", 0.1, 1234567890123LL, 1700000001.0);
    w.add_scalar("train/loss", 1.0, 0);  // wall time now; step 0 is omitted on the wire
    w.flush();
  }
  auto records = read_tfrecords(slurp(path));
  REQUIRE(records.size() == 4);

  Fields first = parse_proto(records[0]);
  CHECK(first.bytes[3] == "brain.Event:2");
  CHECK(as_double(first.num[1]) > 1.6e9);

  Fields e1 = parse_proto(records[1]);
  CHECK(as_double(e1.num[1]) == 1700000000.25);
  CHECK(e1.num[2] == 10);
  Fields v1 = parse_proto(parse_proto(e1.bytes[5]).bytes[1]);
  CHECK(v1.bytes[1] == "train/loss");
  CHECK(as_float(v1.num[2]) == 2.5f);

  Fields e2 = parse_proto(records[2]);
  CHECK(e2.num[2] == 1234567890123ULL);
  Fields v2 = parse_proto(parse_proto(e2.bytes[5]).bytes[1]);
  CHECK(v2.bytes[1] == "val/nll");
  CHECK(as_float(v2.num[2]) == 0.1f);

  Fields e3 = parse_proto(records[3]);
  CHECK(e3.num.count(2) == 0);
  CHECK(std::fabs(as_double(e3.num[1]) - as_double(first.num[1])) < 60);

  // A second writer (a resumed run) makes a second file next to the first.
  SummaryWriter again(dir);
  CHECK(again.path() != path);
  CHECK(fs::exists(path));
}

TEST_CASE("SummaryWriter names the directory it cannot create", "[summary]") {
  const std::string dir = scratch_dir("events_bad");
  std::ofstream(dir + "/file") << "x";
  try {
    SummaryWriter w(dir + "/file/sub");
    FAIL("expected cadenza::Error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(dir + "/file/sub") != std::string::npos);
  }
}

TEST_CASE("CsvLog writes a header and rows, and appends on resume", "[summary]") {
  const std::string path = scratch_dir("csv") + "/metrics.csv";
  const std::vector<std::string> cols = {"step", "loss", "val_nll"};
  {
    CsvLog log(path, cols, /*append=*/false);
    log.row({1, 2.5, NAN});
    log.row({2, 2.25, 2.75});
    CHECK_THROWS_AS(log.row({3, 1.0}), Error);
    // Flushed each row: readable while the log is still open.
    CHECK(slurp(path) == "step,loss,val_nll\n1,2.5,\n2,2.25,2.75\n");
  }
  {
    CsvLog log(path, cols, /*append=*/true);
    REQUIRE(log.existing_rows().size() == 2);
    CHECK(std::isnan(log.existing_rows()[0][2]));
    CHECK(log.existing_rows()[1][1] == 2.25);
    log.row({3, 0.123456789012345, 1e-7});
  }
  CHECK(slurp(path) == "step,loss,val_nll\n1,2.5,\n2,2.25,2.75\n3,0.123456789012,1e-07\n");

  // Resuming from the checkpoint at step 2 drops the row logged after it,
  // and a partial row left by a crash.
  std::ofstream(path, std::ios::app) << "4,0.5";
  {
    CsvLog log(path, cols, /*append=*/true, /*drop_rows_after=*/2);
    CHECK(log.existing_rows().size() == 2);
    log.row({3, 1.5, NAN});
  }
  CHECK(slurp(path) == "step,loss,val_nll\n1,2.5,\n2,2.25,2.75\n3,1.5,\n");

  // Without append the file starts over.
  { CsvLog log(path, cols, /*append=*/false); }
  CHECK(slurp(path) == "step,loss,val_nll\n");

  // Appending to a missing file starts it.
  const std::string fresh = scratch_dir("csv_fresh") + "/m.csv";
  {
    CsvLog log(fresh, {"step"}, /*append=*/true);
    CHECK(log.existing_rows().empty());
    log.row({7});
  }
  CHECK(slurp(fresh) == "step\n7\n");
}

TEST_CASE("CsvLog refuses to append under a different header", "[summary]") {
  const std::string path = scratch_dir("csv_bad") + "/metrics.csv";
  { CsvLog log(path, {"step", "loss"}, false); }
  try {
    CsvLog log(path, {"step", "loss", "lr"}, true);
    FAIL("expected cadenza::Error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("step,loss,lr") != std::string::npos);
  }
  CHECK(slurp(path) == "step,loss\n");  // untouched
  CHECK_THROWS_AS(CsvLog(scratch_dir("csv_nodir") + "/no/such/dir/m.csv", {"a"}, false), Error);
}

namespace {

void check_png(const std::string& path, uint32_t w, uint32_t h) {
  const std::string bytes = slurp(path);
  REQUIRE(bytes.size() > 33);
  CHECK(bytes.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
  CHECK(bytes.compare(12, 4, "IHDR") == 0);
  CHECK(be32(bytes, 16) == w);
  CHECK(be32(bytes, 20) == h);
}

}  // namespace

TEST_CASE("plot_lines draws a loss curve PNG", "[plot]") {
  const std::string dir = scratch_dir("plot");
  Series train{"train loss", {}, {}, 31, 119, 180};
  Series val{"val_nll", {}, {}, 255, 127, 14};
  for (int i = 0; i <= 200; ++i) {
    train.x.push_back(i * 10);
    train.y.push_back(5.0 * std::exp(-i / 50.0) + 1.0);
    if (i % 50 == 0) {
      val.x.push_back(i * 10);
      val.y.push_back(5.0 * std::exp(-i / 50.0) + 1.2);
    }
  }
  plot_lines(dir + "/loss.png", "loss", {train, val}, "step", "nats per token");
  check_png(dir + "/loss.png", 800, 500);

  // Degenerate inputs must not divide by zero or crash.
  Series bad{"nan inf", {0, 1, 2, 3, 4}, {NAN, 1.0, INFINITY, 2.0, -INFINITY}, 200, 0, 0};
  Series one{"single", {5}, {3.0}, 0, 150, 0};
  Series flat{"flat", {0, 1, 2}, {2.0, 2.0, 2.0}, 0, 0, 200};
  Series zero{"zero", {0, 0}, {0, 0}, 0, 0, 0};
  Series empty{"empty", {}, {}, 0, 0, 0};
  Series all_nan{"", {NAN, 1}, {1, NAN}, 0, 0, 0};
  plot_lines(dir + "/bad.png", "bad", {bad}, "step", "loss");
  plot_lines(dir + "/one.png", "one", {one}, "step", "loss");
  plot_lines(dir + "/flat.png", "flat", {flat}, "step", "loss");
  plot_lines(dir + "/zero.png", "zero", {zero}, "", "");
  plot_lines(dir + "/empty.png", "", {empty, all_nan}, "x", "y");
  plot_lines(dir + "/none.png", "none", {}, "x", "y");
  for (const char* f : {"bad", "one", "flat", "zero", "empty", "none"})
    check_png(dir + "/" + f + ".png", 800, 500);

  Series mismatched{"m", {1, 2}, {1}, 0, 0, 0};
  CHECK_THROWS_AS(plot_lines(dir + "/m.png", "m", {mismatched}, "x", "y"), Error);
}

TEST_CASE("nice_ticks and tick_label", "[plot]") {
  auto t = nice_ticks(0, 1000, 6);
  REQUIRE(t.size() >= 4);
  CHECK(t.front() == 0);
  CHECK(t.back() == 1000);
  CHECK(t[1] - t[0] == 200);
  auto u = nice_ticks(2.07, 2.53, 6);
  for (double v : u) CHECK((v >= 2.07 && v <= 2.53));
  CHECK(nice_ticks(1, 1).empty());
  CHECK(nice_ticks(NAN, 1).empty());
  CHECK(tick_label(0, 0.1) == "0");
  CHECK(tick_label(0.30000000000000004, 0.1) == "0.3");
  CHECK(tick_label(1500, 500) == "1500");
  CHECK(tick_label(2.25, 0.05) == "2.25");
  CHECK(tick_label(2e-5, 1e-5) == "2e-5");
  CHECK(tick_label(1.5e7, 5e6) == "1.5e7");
}

TEST_CASE("format_duration", "[progress]") {
  CHECK(format_duration(12) == "12s");
  CHECK(format_duration(245) == "4m05s");
  CHECK(format_duration(3723) == "1h02m03s");
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(-1) == "?");
  CHECK(format_duration(NAN) == "?");
}

TEST_CASE("Progress prints plain lines when not on a terminal", "[progress]") {
  FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    Progress p(1000, 100, f);
    CHECK_FALSE(p.is_tty());
    usleep(20000);
    p.update(200, {{"loss", "2.31"}, {"val_nll", "2.40 nats (3.46 bits)"}, {"tok/s", "51234"}});
    usleep(20000);
    p.update(300, {{"loss", "2.20"}});
    CHECK(p.steps_per_second() > 0);
    p.log("saved checkpoint");
    p.finish();
  }
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  std::fclose(f);
  CHECK(out.find('\r') == std::string::npos);
  CHECK(out.find("step 200/1000 (20%)") != std::string::npos);
  CHECK(out.find("loss 2.31") != std::string::npos);
  CHECK(out.find("val_nll 2.40 nats (3.46 bits)") != std::string::npos);
  CHECK(out.find("tok/s 51234") != std::string::npos);
  CHECK(out.find("step 300/1000 (30%)  loss 2.20  eta ") != std::string::npos);
  CHECK(out.find("eta ?") == std::string::npos);  // a rate was known from the first update
  CHECK(out.find("saved checkpoint\n") != std::string::npos);
  CHECK(out.find("done: 200 steps in ") != std::string::npos);
  // One line per update, the message and the summary.
  CHECK(std::count(out.begin(), out.end(), '\n') == 4);
}

TEST_CASE("Progress redraws a bar in terminal mode", "[progress]") {
  FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    Progress p(100, 0, f);
    p.set_tty(true);
    p.update(50, {{"loss", "1.5"}});
    p.finish();
  }
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f)) out += buf;
  std::fclose(f);
  CHECK(out.rfind("\r[############............] 50/100 50%  loss 1.5  eta ", 0) == 0);
  CHECK(out.find("\ndone: 50 steps in ") != std::string::npos);
}
