// MIDI datasets: recursive discovery, deterministic hash split, transposition,
// and a summary that counts what was dropped and why.
#include <filesystem>
#include <fstream>
#include <set>

#include "midi/dataset.h"
#include "midi_test_util.h"

using namespace cadenza::midi;
namespace fs = std::filesystem;

namespace {

Score tiny_score(int pitch, int notes) {
  Score s;
  s.ticks_per_quarter = 480;
  Track t = make_track("t", 0, 0);
  for (int i = 0; i < notes; ++i) {
    Note n;
    n.pitch = pitch;
    n.start_tick = i * 480;
    n.end_tick = i * 480 + 240;
    t.notes.push_back(n);
  }
  t.end_tick = notes * 480;
  s.tracks.push_back(t);
  s.update_times();
  return s;
}

// root/ with nested songs, a broken file, an empty one, a high one and a text
// file. Each test case names its own tree: ctest runs the cases as parallel
// processes, and a shared one was removed under another case's feet.
std::string make_tree(const std::string& name) {
  std::string root = midi_test::temp_dir("dataset-" + name);
  fs::create_directories(root + "/a/b");
  fs::create_directories(root + "/c");
  for (int i = 0; i < 12; ++i) {
    std::string dir = i % 3 == 0 ? "/a/b/" : (i % 3 == 1 ? "/c/" : "/");
    write(root + dir + "song" + std::to_string(i) + (i == 5 ? ".MIDI" : ".mid"),
          tiny_score(60 + i, 4 + i));
  }
  write(root + "/a/empty.mid", tiny_score(60, 0));
  write(root + "/c/high.mid", tiny_score(126, 3));
  std::ofstream(root + "/a/broken.mid") << "MThd\x00\x00";
  std::ofstream(root + "/notes.txt") << "not midi";
  return root;
}

}  // namespace

TEST_CASE("dataset: files are found recursively, sorted, relative to the root", "[midi][dataset]") {
  std::string root = make_tree("recursive");
  std::vector<std::string> files = find_midi_files(root);
  CHECK(files.size() == 15);
  CHECK(std::is_sorted(files.begin(), files.end()));
  CHECK(std::count(files.begin(), files.end(), "a/b/song0.mid") == 1);
  CHECK(std::count(files.begin(), files.end(), "song5.MIDI") == 1);
  CHECK(std::count(files.begin(), files.end(), "notes.txt") == 0);
  CHECK_THROWS_WITH(find_midi_files(root + "/nope"), Catch::Contains("is not a directory"));
}

TEST_CASE("dataset: the split is a deterministic hash of the path", "[midi][dataset]") {
  CHECK(split_for("a/b/song.mid", 0.1, 0.1) == split_for("a/b/song.mid", 0.1, 0.1));
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i)
    ++counts[static_cast<int>(split_for("dir/file" + std::to_string(i) + ".mid", 0.1, 0.2))];
  CHECK(counts[0] == Approx(14000).margin(400));
  CHECK(counts[1] == Approx(2000).margin(250));
  CHECK(counts[2] == Approx(4000).margin(300));
  CHECK(split_for("x.mid", 0, 1) == Split::kTest);
  CHECK(split_for("x.mid", 0, 0) == Split::kTrain);
  CHECK_THROWS_AS(split_for("x.mid", 0.6, 0.6), Error);
}

TEST_CASE("dataset: performance tokens with transposition and a summary of drops",
          "[midi][dataset]") {
  std::string root = make_tree("performance");
  DatasetOptions o;
  o.valid_fraction = 0.25;
  o.test_fraction = 0.25;
  o.transpositions = {-2, 0, 2};
  o.min_notes = 1;
  MidiDataset ds = MidiDataset::load(root, o);
  const DatasetSummary& s = ds.summary();
  INFO(s.to_string());
  CHECK(s.files_found == 15);
  CHECK(s.dropped.at("parse error") == 1);
  CHECK(s.dropped.at("fewer than 1 notes") == 1);
  CHECK(s.files_kept == 13);  // 12 songs + high.mid
  int64_t expected_notes = 3;
  for (int i = 0; i < 12; ++i) expected_notes += 4 + i;
  CHECK(s.notes_kept == expected_notes);
  // high.mid (pitch 126) cannot go up 2 if it is in the training split.
  Split high = split_for("c/high.mid", 0.25, 0.25);
  CHECK(s.dropped.count("transposition out of range") == (high == Split::kTrain ? 1u : 0u));
  int64_t train_files = 0;
  for (const Example& e : ds.examples()) {
    CHECK(e.split == split_for(e.path, 0.25, 0.25));
    if (e.split != Split::kTrain) CHECK(e.transpose == 0);
    if (e.split == Split::kTrain && e.transpose == 0) ++train_files;
    CHECK(!e.tokens.empty());
  }
  CHECK(s.examples[0] == train_files * 3 - (high == Split::kTrain ? 1 : 0));
  CHECK(s.examples[0] + s.examples[1] + s.examples[2] ==
        static_cast<int64_t>(ds.examples().size()));
  CHECK(ds.split(Split::kValid).size() == static_cast<size_t>(s.examples[1]));
  // A transposed copy is the original with every NOTE_ON / NOTE_OFF moved.
  for (const Example& e : ds.examples()) {
    if (e.transpose != 2) continue;
    const Example* orig = nullptr;
    for (const Example& f : ds.examples()) {
      if (f.path == e.path && f.transpose == 0) orig = &f;
    }
    REQUIRE(orig);
    REQUIRE(orig->tokens.size() == e.tokens.size());
    for (size_t i = 0; i < e.tokens.size(); ++i) {
      int32_t t = orig->tokens[i];
      CHECK(e.tokens[i] == (t < 256 ? t + 2 : t));
    }
  }
  std::string text = s.to_string();
  CHECK(text.find("dropped (parse error): 1") != std::string::npos);
}

TEST_CASE("dataset: melodies and piano rolls", "[midi][dataset]") {
  std::string root = make_tree("melody");
  DatasetOptions o;
  o.representation = Representation::kMelody;
  MidiDataset m = MidiDataset::load(root, o);
  for (const Example& e : m.examples()) {
    for (int32_t t : e.tokens) CHECK((t >= 0 && t < 38));
  }
  o.representation = Representation::kPianoRoll;
  o.roll.steps_per_beat = 4;
  MidiDataset r = MidiDataset::load(root, o);
  for (const Example& e : r.examples()) {
    CHECK(e.roll.tracks == 1);
    CHECK(e.roll.steps == 4 * e.notes);
  }
  o.roll.max_steps = 20;  // songs of more than 5 notes (4 steps each) are too long
  MidiDataset capped = MidiDataset::load(root, o);
  CHECK(capped.summary().dropped.at("piano roll longer than max_steps") > 0);
}

TEST_CASE("dataset: an empty or all-dropped directory is an error, not zero examples",
          "[midi][dataset]") {
  std::string root = midi_test::temp_dir("dataset-empty");
  CHECK_THROWS_WITH(MidiDataset::load(root), Catch::Contains("no .mid or .midi files"));
  std::ofstream(root + "/bad.mid") << "garbage";
  CHECK_THROWS_WITH(MidiDataset::load(root), Catch::Contains("dropped (parse error): 1"));
}

TEST_CASE("dataset: the packaged corpus loads with every file kept", "[midi][dataset][corpus]") {
  midi_test::corpus_files();  // fails loudly when the packages are missing
  DatasetOptions o;
  o.representation = Representation::kMelody;
  MidiDataset ds = MidiDataset::load("/usr/share/planetblupi/music", o);
  CHECK(ds.summary().files_kept == 10);
  CHECK(ds.summary().dropped.empty());
}
