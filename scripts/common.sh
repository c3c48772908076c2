# Shared by train.sh and test.sh: checks the toolchain and installs missing Debian packages.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the engine loads at run time. Later capabilities add theirs here.
# (The CUDA driver, libcuda.so.1, comes with the NVIDIA driver, not from this list: without
# it the GPU tests skip, saying why.)
native_packages=(
  libhdf5-103-1  # HDF5 1.10, for the SIGNS files and Keras-layout model files (loaded by P/Invoke)
  libturbojpeg0  # JPEG decoding for your own photos (libturbojpeg.so.0, loaded by P/Invoke)
  libnvrtc11.2   # NVRTC, compiles the CUDA kernels to PTX (libnvrtc.so.11.2; Debian non-free)
)

# Packages that live in Debian's contrib/non-free components rather than main.
non_free_packages=(libnvrtc11.2)
debian_sources=/etc/apt/sources.list.d/debian.sources

# Adds contrib and non-free to the Components lines of the deb822 sources file, keeping main,
# when a non-free package is wanted and apt has no candidate for it (Debian images list only
# main). Returns 0 when it changed the sources, so the caller knows to update again.
enable_non_free_components() {
  local p needed=0
  for p in "$@"; do
    if [[ " ${non_free_packages[*]} " == *" $p "* ]] &&
       ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
      needed=1
    fi
  done
  [ "$needed" -eq 1 ] && [ -f "$debian_sources" ] || return 1
  local before
  before="$(cat "$debian_sources")"
  sed -i -E \
    -e '/^Components:/{/[[:space:]]contrib([[:space:]]|$)/!s/[[:space:]]*$/ contrib/}' \
    -e '/^Components:/{/[[:space:]]non-free([[:space:]]|$)/!s/[[:space:]]*$/ non-free/}' \
    "$debian_sources"
  [ "$(cat "$debian_sources")" != "$before" ] || return 1
  echo "Enabled Debian's contrib and non-free components in $debian_sources"
}

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
    if enable_non_free_components "${missing[@]}"; then
      apt-get update -qq
    fi
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
