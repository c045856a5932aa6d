// Placeholder until the midi tools land; replaced by the midi floor's commands.
#include "args.h"
#include "commands.h"

namespace cadenza::cli {
int cmd_midi(int, char**) { throw UsageError("the midi tools are not built yet"); }
}  // namespace cadenza::cli
