# Sourced by test.sh and demo.sh: installs what cadenza needs on a fresh
# Debian machine, and nothing when it is all there already.
CADENZA_APT_PACKAGES=(
  build-essential cmake pkg-config git python3 python3-pip
  libeigen3-dev catch2 libbenchmark-dev nlohmann-json3-dev zlib1g-dev libcli11-dev
  clang libclang-rt-dev
  libsndfile1-dev libsamplerate0-dev libfftw3-dev libfluidsynth-dev
  timgm6mb-soundfont openttd-openmsx planetblupi-music-midi
  python3-mido midicsv sox python3-torch python3-numpy libopenblas0-pthread
  openmpi-bin libopenmpi-dev
)
CADENZA_PIP_PACKAGES=(numpy safetensors tensorboard)

cadenza_install_deps() {
  local missing=()
  for p in "${CADENZA_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "cadenza: installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  local py
  py=$(command -v python3)
  local pipmissing=()
  for m in "${CADENZA_PIP_PACKAGES[@]}"; do
    "$py" -c "import $m" 2>/dev/null || pipmissing+=("$m")
  done
  if [ ${#pipmissing[@]} -gt 0 ]; then
    echo "cadenza: installing Python packages: ${pipmissing[*]}"
    "$py" -m pip install -q "${pipmissing[@]}" || "$py" -m pip install -q --break-system-packages "${pipmissing[@]}"
  fi
}
