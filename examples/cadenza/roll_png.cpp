// Temporary: replaced by the MIDI floor's roll drawing once it is a library function.
#include "roll_png.h"

namespace cadenza::cli {
void save_roll_png(const midi::Score&, const std::string&) {}
}  // namespace cadenza::cli
