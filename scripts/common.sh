# Shared by train.sh and test.sh: checks the toolchain and installs missing Debian packages.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the engine loads at run time. Later capabilities add theirs here
# (NVRTC for CUDA kernels).
native_packages=(
  libhdf5-103-1  # HDF5 1.10, for the SIGNS files and Keras-layout model files (loaded by P/Invoke)
  libturbojpeg0  # JPEG decoding for your own photos (libturbojpeg.so.0, loaded by P/Invoke)
)

ensure_native_packages() {
  local missing=()
  local p
  for p in "${native_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing missing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
      echo "error: need root to install ${missing[*]} (run as root, or install them first)" >&2
      exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

ensure_dotnet() {
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "error: the .NET SDK (10.0 or later) is not on PATH" >&2
    exit 1
  fi
}

ensure_dotnet
ensure_native_packages
