// Audio file I/O through libsndfile. libsndfile reads by content, not by
// extension, so load() accepts any container it knows; save() picks the
// container from the extension because a caller writing "x.flac" means FLAC.
#include <sndfile.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "audio/audio.h"

namespace cadenza::audio {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string extension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot));
}

// libsndfile's message for `f`, or for the last failed sf_open when f is null.
std::string sf_message(SNDFILE* f) {
  const char* m = sf_strerror(f);
  std::string s = m ? m : "unknown error";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

struct SndfileCloser {
  void operator()(SNDFILE* f) const {
    if (f) sf_close(f);
  }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

struct Name {
  int code;
  const char* name;
};

// soundfile's spellings, so `info` reads the same as Python tools.
constexpr Name kMajors[] = {
    {SF_FORMAT_WAV, "WAV"},   {SF_FORMAT_AIFF, "AIFF"}, {SF_FORMAT_AU, "AU"},
    {SF_FORMAT_RAW, "RAW"},   {SF_FORMAT_W64, "W64"},   {SF_FORMAT_WAVEX, "WAVEX"},
    {SF_FORMAT_FLAC, "FLAC"}, {SF_FORMAT_CAF, "CAF"},   {SF_FORMAT_OGG, "OGG"},
    {SF_FORMAT_RF64, "RF64"}, {SF_FORMAT_MPEG, "MP3"},
};
constexpr Name kSubtypes[] = {
    {SF_FORMAT_PCM_S8, "PCM_S8"}, {SF_FORMAT_PCM_U8, "PCM_U8"},
    {SF_FORMAT_PCM_16, "PCM_16"}, {SF_FORMAT_PCM_24, "PCM_24"},
    {SF_FORMAT_PCM_32, "PCM_32"}, {SF_FORMAT_FLOAT, "FLOAT"},
    {SF_FORMAT_DOUBLE, "DOUBLE"}, {SF_FORMAT_ULAW, "ULAW"},
    {SF_FORMAT_ALAW, "ALAW"},     {SF_FORMAT_VORBIS, "VORBIS"},
    {SF_FORMAT_OPUS, "OPUS"},     {SF_FORMAT_MPEG_LAYER_III, "MPEG_LAYER_III"},
};

template <size_t N>
std::string name_of(const Name (&table)[N], int code) {
  for (const Name& n : table) {
    if (n.code == code) return n.name;
  }
  return "OTHER";
}

std::string major_name(int format) {
  return name_of(kMajors, format & SF_FORMAT_TYPEMASK);
}
std::string subtype_name(int format) {
  return name_of(kSubtypes, format & SF_FORMAT_SUBMASK);
}

// libsndfile accepts a WAV whose data chunk claims more bytes than the file
// holds (it shortens the stream and notes it in its log). A cut-off download
// would then load as silently shorter audio, so the log is checked.
bool log_says_truncated(SNDFILE* f) {
  char log[16384] = {0};
  sf_command(f, SFC_GET_LOG_INFO, log, sizeof(log) - 1);
  // The line reads "data : 32000 (should be 19956)".
  const std::string s = log;
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    const std::string line = s.substr(pos, end - pos);
    if (line.rfind("data", 0) == 0 && line.find("(should be") != std::string::npos) return true;
    pos = end + 1;
  }
  return false;
}

// sf_open's message for an empty file ("Format not recognised") does not say
// why; the size does.
std::string open_failure(const std::string& path) {
  std::string msg = "audio: cannot open '" + path + "': ";
  if (FILE* fp = std::fopen(path.c_str(), "rb")) {
    const bool empty = std::fgetc(fp) == EOF;
    std::fclose(fp);
    if (empty) msg += "the file is empty (0 bytes); ";
  }
  return msg + "libsndfile: " + sf_message(nullptr);
}

Info info_of(const SF_INFO& si) {
  Info in;
  in.sample_rate = si.samplerate;
  in.channels = si.channels;
  const bool unknown = si.frames == SF_COUNT_MAX;  // e.g. an Ogg stream cut short
  in.frames = unknown ? -1 : si.frames;
  in.seconds = unknown             ? -1.0
               : si.samplerate > 0 ? static_cast<double>(si.frames) / si.samplerate
                                   : 0.0;
  in.format = major_name(si.format);
  in.subtype = subtype_name(si.format);
  return in;
}

// Reads every frame of an open file into a planar buffer.
Buffer read_all(SNDFILE* f, const SF_INFO& si, const std::string& name) {
  if (si.channels <= 0 || si.samplerate <= 0) {
    throw Error("audio: '" + name + "' has " + std::to_string(si.channels) + " channels at " +
                std::to_string(si.samplerate) + " Hz; libsndfile: " + sf_message(f));
  }
  if (si.frames <= 0) {
    throw Error("audio: '" + name + "' holds no audio (0 frames); libsndfile: " + sf_message(f));
  }
  if (log_says_truncated(f)) {
    throw Error("audio: '" + name +
                "' is truncated (its header promises more data than the "
                "file holds); libsndfile: " +
                sf_message(f));
  }
  const int c = si.channels;
  // The header's frame count is only a claim (a damaged file may promise
  // 2^62 frames), so memory is reserved up to a cap and filled block by block
  // until EOF; a short read is reported below.
  std::vector<float> interleaved;
  const int64_t claimed = si.frames > INT64_MAX / c ? INT64_MAX : si.frames * c;
  interleaved.reserve(static_cast<size_t>(std::min<int64_t>(claimed, int64_t{1} << 26)));
  const sf_count_t block_frames = std::max(1, 65536 / c);
  std::vector<float> block(static_cast<size_t>(block_frames) * c);
  int64_t total = 0;
  for (;;) {
    const sf_count_t got = sf_readf_float(f, block.data(), block_frames);
    if (got <= 0) break;
    interleaved.insert(interleaved.end(), block.begin(), block.begin() + got * c);
    total += got;
  }
  if (si.frames == SF_COUNT_MAX) {
    // libsndfile's "length unknown": an Ogg stream whose last page is gone.
    throw Error("audio: '" + name + "' is truncated: its end is missing (decoded " +
                std::to_string(total) +
                " frames before the data ran out); libsndfile: " + sf_message(f));
  }
  if (sf_error(f) != SF_ERR_NO_ERROR || total < si.frames) {
    throw Error("audio: '" + name + "' is truncated or corrupt: read " + std::to_string(total) +
                " of " + std::to_string(si.frames) + " frames; libsndfile: " + sf_message(f));
  }
  Buffer b;
  b.sample_rate = si.samplerate;
  b.channels = c;
  b.data.resize(static_cast<size_t>(total) * c);
  for (int ch = 0; ch < c; ++ch) {
    float* dst = b.data.data() + static_cast<size_t>(ch) * total;
    for (int64_t i = 0; i < total; ++i) {
      float v = interleaved[static_cast<size_t>(i) * c + ch];
      // Float files may hold anything; NaN would poison every later transform.
      if (!std::isfinite(v)) v = 0.0f;
      dst[i] = v;
    }
  }
  return b;
}

// Virtual I/O over a byte range, so load_memory shares read_all with load.
struct MemoryFile {
  const unsigned char* data;
  sf_count_t size;
  sf_count_t pos;
};
sf_count_t mem_len(void* u) {
  return static_cast<MemoryFile*>(u)->size;
}
sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  sf_count_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : m->size + off;
  m->pos = std::clamp<sf_count_t>(p, 0, m->size);
  return m->pos;
}
sf_count_t mem_read(void* ptr, sf_count_t n, void* u) {
  auto* m = static_cast<MemoryFile*>(u);
  const sf_count_t k = std::max<sf_count_t>(0, std::min(n, m->size - m->pos));
  if (k > 0) std::memcpy(ptr, m->data + m->pos, static_cast<size_t>(k));
  m->pos += k;
  return k;
}
sf_count_t mem_write(const void*, sf_count_t, void*) {
  return 0;
}
sf_count_t mem_tell(void* u) {
  return static_cast<MemoryFile*>(u)->pos;
}

int container_for(const std::string& path) {
  const std::string ext = extension(path);
  if (ext == ".wav") return SF_FORMAT_WAV;
  if (ext == ".flac") return SF_FORMAT_FLAC;
  if (ext == ".ogg" || ext == ".oga") return SF_FORMAT_OGG;
  throw Error("audio: cannot save '" + path + "': unsupported extension '" + ext +
              "' (use .wav, .flac or .ogg)");
}

int subtype_code(Subtype s, int container, const std::string& path) {
  if (container == SF_FORMAT_OGG) {
    if (s != Subtype::kDefault && s != Subtype::kVorbis) {
      throw Error("audio: cannot save '" + path + "': .ogg holds Vorbis only");
    }
    return SF_FORMAT_VORBIS;
  }
  switch (s) {
    case Subtype::kDefault:
    case Subtype::kPcm16:
      return SF_FORMAT_PCM_16;
    case Subtype::kPcm24:
      return SF_FORMAT_PCM_24;
    case Subtype::kPcm32:
      if (container == SF_FORMAT_FLAC) {
        throw Error("audio: cannot save '" + path + "': FLAC holds at most 24-bit PCM");
      }
      return SF_FORMAT_PCM_32;
    case Subtype::kFloat:
      if (container == SF_FORMAT_FLAC) {
        throw Error("audio: cannot save '" + path + "': FLAC cannot hold float samples");
      }
      return SF_FORMAT_FLOAT;
    case Subtype::kVorbis:
      throw Error("audio: cannot save '" + path + "': Vorbis needs the .ogg extension");
  }
  return SF_FORMAT_PCM_16;
}

}  // namespace

Subtype parse_subtype(const std::string& name) {
  const std::string n = lower(name);
  if (n == "pcm_16" || n == "pcm16" || n == "16") return Subtype::kPcm16;
  if (n == "pcm_24" || n == "pcm24" || n == "24") return Subtype::kPcm24;
  if (n == "pcm_32" || n == "pcm32" || n == "32") return Subtype::kPcm32;
  if (n == "float" || n == "float32") return Subtype::kFloat;
  if (n == "vorbis") return Subtype::kVorbis;
  if (n.empty() || n == "default") return Subtype::kDefault;
  throw Error("audio: unknown sample format '" + name +
              "' (use PCM_16, PCM_24, PCM_32, FLOAT or VORBIS)");
}

Info info(const std::string& path) {
  SF_INFO si{};
  SndfilePtr f(sf_open(path.c_str(), SFM_READ, &si));
  if (!f) throw Error(open_failure(path));
  return info_of(si);
}

Buffer load(const std::string& path) {
  SF_INFO si{};
  SndfilePtr f(sf_open(path.c_str(), SFM_READ, &si));
  if (!f) throw Error(open_failure(path));
  return read_all(f.get(), si, path);
}

Buffer load_memory(const void* bytes, size_t size, const std::string& name) {
  MemoryFile m{static_cast<const unsigned char*>(bytes), static_cast<sf_count_t>(size), 0};
  SF_VIRTUAL_IO io{mem_len, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO si{};
  SndfilePtr f(sf_open_virtual(&io, SFM_READ, &si, &m));
  if (!f) throw Error("audio: cannot open '" + name + "': libsndfile: " + sf_message(nullptr));
  return read_all(f.get(), si, name);
}

void save(const std::string& path, const Buffer& b, const SaveOptions& options) {
  if (b.channels <= 0 || b.sample_rate <= 0) {
    throw Error("audio: cannot save '" + path + "': buffer has " + std::to_string(b.channels) +
                " channels at " + std::to_string(b.sample_rate) + " Hz");
  }
  if (b.data.size() % static_cast<size_t>(b.channels) != 0) {
    throw Error("audio: cannot save '" + path + "': " + std::to_string(b.data.size()) +
                " samples do not split into " + std::to_string(b.channels) + " channels");
  }
  const int container = container_for(path);
  SF_INFO si{};
  si.samplerate = b.sample_rate;
  si.channels = b.channels;
  si.format = container | subtype_code(options.subtype, container, path);
  if (!sf_format_check(&si)) {
    throw Error("audio: cannot save '" + path + "': libsndfile cannot write " +
                std::to_string(b.channels) + " channels at " + std::to_string(b.sample_rate) +
                " Hz in this format");
  }
  // Written beside the target and renamed, so a reader never sees half a file.
  const std::string tmp = path + ".tmp-cadenza";
  SndfilePtr f(sf_open(tmp.c_str(), SFM_WRITE, &si));
  if (!f) throw Error("audio: cannot write '" + path + "': libsndfile: " + sf_message(nullptr));
  if (container == SF_FORMAT_OGG) {
    double level = std::clamp(1.0 - options.vorbis_quality, 0.0, 1.0);
    sf_command(f.get(), SFC_SET_COMPRESSION_LEVEL, &level, sizeof(level));
  }
  const int64_t n = b.frames();
  const int c = b.channels;
  // Clipped here (not only by SFC_SET_CLIPPING) so float files are bounded too
  // and integer formats never wrap a 1.2 around to a large negative value.
  std::vector<float> block;
  const int64_t kBlock = 65536;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    block.resize(static_cast<size_t>(len) * c);
    for (int ch = 0; ch < c; ++ch) {
      const float* src = b.channel(ch) + start;
      for (int64_t i = 0; i < len; ++i) {
        float v = src[i];
        v = std::isfinite(v) ? std::clamp(v, -1.0f, 1.0f) : 0.0f;
        block[static_cast<size_t>(i) * c + ch] = v;
      }
    }
    if (sf_writef_float(f.get(), block.data(), len) != len) {
      const std::string msg = sf_message(f.get());
      f.reset();
      std::remove(tmp.c_str());
      throw Error("audio: writing '" + path + "' failed: libsndfile: " + msg);
    }
  }
  sf_write_sync(f.get());
  f.reset();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("audio: cannot move the written file onto '" + path + "': " + std::strerror(errno));
  }
}

Buffer to_mono(const Buffer& b) {
  Buffer m;
  m.sample_rate = b.sample_rate;
  m.channels = b.channels > 0 ? 1 : 0;
  const int64_t n = b.frames();
  m.data.assign(static_cast<size_t>(n), 0.0f);
  if (b.channels <= 0) return m;
  // Summed in double so that many channels do not lose low bits.
  for (int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int ch = 0; ch < b.channels; ++ch) s += b.channel(ch)[i];
    m.data[static_cast<size_t>(i)] = static_cast<float>(s / b.channels);
  }
  return m;
}

}  // namespace cadenza::audio
