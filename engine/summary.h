#pragma once
// Training logs: TensorBoard event files (written by hand, no protobuf or
// TensorFlow dependency) and a CSV of per-step metrics.
//
// An event file is a sequence of TFRecords, each framed as
//   uint64 length (LE) | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
// where data is a serialized tensorflow.Event protobuf.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "engine/png.h"

namespace cadenza {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord
// uses. Pass a previous result as `crc` to continue over more bytes.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// TFRecord stores CRCs "masked" so that a CRC of data that itself contains
// CRCs does not degenerate.
inline uint32_t crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

// Frames one record: length, masked CRC of the length, data, masked CRC of the data.
std::string tfrecord_frame(const std::string& data);

// Writes scalars to a TensorBoard event file in `logdir`. Each writer makes a
// new file (events.out.tfevents.<unix-seconds>.<hostname>.<pid>.cadenza), so a
// resumed run adds a second file that TensorBoard merges with the first.
class SummaryWriter {
 public:
  // Creates `logdir` (and parents) if missing. Throws cadenza::Error naming
  // the path when the directory or file cannot be created.
  explicit SummaryWriter(const std::string& logdir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  // Records `value` (stored as float32, as TensorBoard's simple_value is) under
  // `tag` at `step`. wall_time is seconds since the Unix epoch; < 0 means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1);
  // Records a mono clip (samples in [-1, 1], written as 16-bit PCM WAV) under
  // `tag` at `step`, for TensorBoard's audio dashboard.
  void add_audio(const std::string& tag, const std::vector<float>& samples, int sample_rate, int64_t step,
                 double wall_time = -1);
  // Records a picture (PNG-encoded) under `tag` at `step`, for TensorBoard's
  // images dashboard.
  void add_image(const std::string& tag, const png::Image& image, int64_t step, double wall_time = -1);
  // Pushes buffered records to the OS so a live TensorBoard sees them.
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);
  // One Summary.Value (its tag and payload) as an event at `step`.
  void write_value(const std::string& value, int64_t step, double wall_time);
  std::string path_;
  FILE* file_ = nullptr;
};

// A CSV of numeric columns, one row per call, flushed each row so a crash
// loses at most the row being written. NaN is written as an empty field.
class CsvLog {
 public:
  // append = false: truncates `path` and writes the header.
  // append = true (resume): keeps the existing rows, after checking that the
  // file's header equals `columns` (throws cadenza::Error naming the file and
  // both headers otherwise); a missing or empty file is started afresh. Rows
  // whose first column is greater than `drop_rows_after` are removed, so rows
  // logged after the checkpoint being resumed do not appear twice; a partial
  // last line left by a crash is removed as well.
  CsvLog(const std::string& path, const std::vector<std::string>& columns, bool append,
         double drop_rows_after = std::numeric_limits<double>::infinity());
  ~CsvLog();
  CsvLog(const CsvLog&) = delete;
  CsvLog& operator=(const CsvLog&) = delete;

  // values.size() must equal the number of columns.
  void row(const std::vector<double>& values);
  // The rows kept from the file when appending (empty fields read as NaN), so
  // a resumed trainer can redraw its curves from the whole history.
  const std::vector<std::vector<double>>& existing_rows() const { return existing_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  size_t ncols_ = 0;
  FILE* file_ = nullptr;
  std::vector<std::vector<double>> existing_;
};

}  // namespace cadenza
