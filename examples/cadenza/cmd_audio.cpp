// Placeholder until the audio tools land; replaced by the audio floor's commands.
#include "args.h"
#include "commands.h"

namespace cadenza::cli {
int cmd_audio(int, char**) { throw UsageError("the audio tools are not built yet"); }
}  // namespace cadenza::cli
