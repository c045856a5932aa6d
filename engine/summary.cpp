#include "engine/summary.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/file_io.h"
#include "engine/tensor.h"

namespace fs = std::filesystem;

namespace cadenza {

// ---- CRC-32C ----

static const std::array<uint32_t, 256>& crc32c_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  // Event records are small and written a few times per step, so one table
  // lookup per byte is plenty; no need for slicing-by-8 or SSE4.2.
  const auto& table = crc32c_table();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

// ---- protobuf wire format, just the pieces an Event with scalars needs ----

namespace {

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
void put_tag(std::string& out, int field, int wire_type) {
  put_varint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}

void put_double(std::string& out, int field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_tag(out, field, 1);
  put_le(out, bits, 8);
}

void put_float(std::string& out, int field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_tag(out, field, 5);
  put_le(out, bits, 4);
}

void put_bytes(std::string& out, int field, const std::string& s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out += s;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// tensorflow.Event: wall_time = 1 (double), step = 2 (int64),
// file_version = 3 (string), summary = 5 (Summary).
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_double(e, 1, wall_time);
  if (step != 0) {  // proto3 omits default values
    put_tag(e, 2, 0);
    put_varint(e, static_cast<uint64_t>(step));  // two's complement, as protobuf does
  }
  return e;
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

std::string tfrecord_frame(const std::string& data) {
  std::string out;
  out.reserve(data.size() + 16);
  std::string len;
  put_le(len, data.size(), 8);
  out += len;
  put_le(out, crc32c_mask(crc32c(len.data(), len.size())), 4);
  out += data;
  put_le(out, crc32c_mask(crc32c(data.data(), data.size())), 4);
  return out;
}

// ---- SummaryWriter ----

SummaryWriter::SummaryWriter(const std::string& logdir) {
  std::error_code ec;
  fs::create_directories(logdir, ec);
  if (ec || !fs::is_directory(logdir))
    throw Error("SummaryWriter: cannot create log directory '" + logdir +
                "': " + (ec ? ec.message() : "not a directory"));
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  // Same file name pattern as TensorFlow (TensorBoard only needs "tfevents"
  // in the name); O_EXCL plus a counter keeps two writers opened in the same
  // second from clobbering each other, and the counter sorts after the first
  // file, which is the order TensorBoard reads them in.
  const std::string base = (fs::path(logdir) / "events.out.tfevents.").string() +
                           std::to_string(static_cast<int64_t>(now_seconds())) + "." + host + "." +
                           std::to_string(getpid()) + ".cadenza";
  for (int attempt = 1;; ++attempt) {
    std::string candidate = attempt == 1 ? base : base + std::to_string(attempt);
    int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      path_ = candidate;
      file_ = fdopen(fd, "wb");
      if (!file_) {
        ::close(fd);
        throw Error("SummaryWriter: cannot open '" + candidate + "': " + errno_text());
      }
      break;
    }
    if (errno != EEXIST || attempt > 1000)
      throw Error("SummaryWriter: cannot create event file '" + candidate + "': " + errno_text());
  }
  std::string first = event_header(now_seconds(), 0);
  put_bytes(first, 3, "brain.Event:2");
  write_record(first);
  flush();
}

SummaryWriter::~SummaryWriter() {
  if (file_) std::fclose(file_);  // a destructor must not throw; flush() reports errors
}

void SummaryWriter::write_record(const std::string& event) {
  std::string rec = tfrecord_frame(event);
  if (std::fwrite(rec.data(), 1, rec.size(), file_) != rec.size())
    throw Error("SummaryWriter: cannot write to '" + path_ + "': " + errno_text());
}

void SummaryWriter::write_value(const std::string& value, int64_t step, double wall_time) {
  std::string summary;  // Summary: value = 1 (repeated Value)
  put_bytes(summary, 1, value);
  std::string e = event_header(wall_time < 0 ? now_seconds() : wall_time, step);
  put_bytes(e, 5, summary);  // Event: summary = 5
  write_record(e);
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step,
                               double wall_time) {
  // Summary.Value: tag = 1 (string), simple_value = 2 (float).
  std::string v;
  put_bytes(v, 1, tag);
  put_float(v, 2, static_cast<float>(value));
  write_value(v, step, wall_time);
}

void SummaryWriter::add_audio(const std::string& tag, const std::vector<float>& samples, int sample_rate,
                              int64_t step, double wall_time) {
  if (sample_rate <= 0) throw Error("SummaryWriter: audio '" + tag + "' needs a positive sample rate");
  // A 16-bit PCM mono WAV: RIFF header, fmt chunk, data chunk.
  const uint64_t data_bytes = 2 * static_cast<uint64_t>(samples.size());
  if (data_bytes > 0xFFFFFFF0u) throw Error("SummaryWriter: audio '" + tag + "' is too long for a WAV");
  std::string wav = "RIFF";
  put_le(wav, 36 + data_bytes, 4);
  wav += "WAVEfmt ";
  put_le(wav, 16, 4);
  put_le(wav, 1, 2);  // PCM
  put_le(wav, 1, 2);  // mono
  put_le(wav, static_cast<uint64_t>(sample_rate), 4);
  put_le(wav, 2 * static_cast<uint64_t>(sample_rate), 4);
  put_le(wav, 2, 2);
  put_le(wav, 16, 2);
  wav += "data";
  put_le(wav, data_bytes, 4);
  for (float x : samples) {
    float c = std::isfinite(x) ? std::max(-1.0f, std::min(1.0f, x)) : 0.0f;
    put_le(wav, static_cast<uint16_t>(static_cast<int16_t>(std::lround(c * 32767.0f))), 2);
  }
  // Summary.Audio: sample_rate = 1 (float), num_channels = 2, length_frames = 3,
  // encoded_audio_string = 4, content_type = 5; it is Summary.Value's field 6.
  std::string a;
  put_float(a, 1, static_cast<float>(sample_rate));
  put_tag(a, 2, 0);
  put_varint(a, 1);
  if (!samples.empty()) {
    put_tag(a, 3, 0);
    put_varint(a, samples.size());
  }
  put_bytes(a, 4, wav);
  put_bytes(a, 5, "audio/wav");
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 6, a);
  write_value(v, step, wall_time);
}

void SummaryWriter::add_image(const std::string& tag, const png::Image& image, int64_t step, double wall_time) {
  // Summary.Image: height = 1, width = 2, colorspace = 3 (3: RGB),
  // encoded_image_string = 4; it is Summary.Value's field 4.
  std::string im;
  put_tag(im, 1, 0);
  put_varint(im, static_cast<uint64_t>(image.height));
  put_tag(im, 2, 0);
  put_varint(im, static_cast<uint64_t>(image.width));
  put_tag(im, 3, 0);
  put_varint(im, 3);
  put_bytes(im, 4, png::encode(image));
  std::string v;
  put_bytes(v, 1, tag);
  put_bytes(v, 4, im);
  write_value(v, step, wall_time);
}

void SummaryWriter::flush() {
  if (std::fflush(file_) != 0)
    throw Error("SummaryWriter: cannot write to '" + path_ + "': " + errno_text());
}

// ---- CsvLog ----

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

std::vector<double> parse_row(const std::string& line) {
  std::vector<double> out;
  size_t start = 0;
  for (;;) {
    size_t end = line.find(',', start);
    std::string f = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    char* rest = nullptr;
    double v = f.empty() ? std::nan("") : std::strtod(f.c_str(), &rest);
    if (!f.empty() && rest == f.c_str()) v = std::nan("");
    out.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

CsvLog::CsvLog(const std::string& path, const std::vector<std::string>& columns, bool append,
               double drop_rows_after)
    : path_(path), ncols_(columns.size()) {
  if (columns.empty()) throw Error("CsvLog: '" + path + "' needs at least one column");
  const std::string header = join(columns);
  std::error_code ec;
  bool have_rows = append && fs::exists(path, ec) && fs::file_size(path, ec) > 0;
  if (have_rows) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("CsvLog: cannot read '" + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    // Keep only complete lines: a crash mid-row leaves a line without '\n'.
    std::vector<std::string> lines;
    size_t start = 0;
    bool changed = false;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) {
        changed = true;
        break;
      }
      std::string line = text.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
      start = nl + 1;
    }
    if (lines.empty()) {
      have_rows = false;  // only a partial header: start afresh
    } else {
      if (lines[0] != header)
        throw Error("CsvLog: '" + path + "' has header '" + lines[0] + "' but this run logs '" +
                    header + "'; use a new output directory or the same settings");
      std::string kept = header + "\n";
      for (size_t i = 1; i < lines.size(); ++i) {
        if (lines[i].empty()) continue;
        std::vector<double> r = parse_row(lines[i]);
        if (r[0] > drop_rows_after) {
          changed = true;
          continue;
        }
        r.resize(ncols_, std::nan(""));
        existing_.push_back(std::move(r));
        kept += lines[i] + "\n";
      }
      if (changed) write_file_atomic(path, kept);
    }
  }
  file_ = std::fopen(path.c_str(), have_rows ? "ab" : "wb");
  if (!file_) throw Error("CsvLog: cannot open '" + path + "' for writing: " + errno_text());
  if (!have_rows) {
    if (std::fprintf(file_, "%s\n", header.c_str()) < 0 || std::fflush(file_) != 0)
      throw Error("CsvLog: cannot write to '" + path + "': " + errno_text());
  }
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::row(const std::vector<double>& values) {
  if (values.size() != ncols_)
    throw Error("CsvLog: '" + path_ + "' has " + std::to_string(ncols_) +
                " columns but row() got " + std::to_string(values.size()) + " values");
  std::string line;
  char buf[40];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) line += ',';
    if (std::isnan(values[i])) continue;  // empty field: pandas and numpy read it as NaN
    // 12 significant digits keep Unix times to the millisecond and losses exact
    // enough to compare a resumed run with an uninterrupted one at float32.
    std::snprintf(buf, sizeof buf, "%.12g", values[i]);
    line += buf;
  }
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw Error("CsvLog: cannot write to '" + path_ + "': " + errno_text());
}

}  // namespace cadenza
