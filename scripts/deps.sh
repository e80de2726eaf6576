# Sourced by the other scripts: installs the Debian packages stopgrad builds with, only when
# one is missing (so a second run costs nothing).
sg_packages=(cmake ninja-build g++ pkgconf libeigen3-dev libdnnl-dev opencl-c-headers ocl-icd-opencl-dev
             libstb-dev doctest-dev nlohmann-json3-dev
             libcli11-dev libxml2-utils openmpi-bin libopenmpi-dev)

sg_install_missing_packages() {
  local missing=()
  for p in "${sg_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Configures (once) and builds everything into build/.
sg_build() {
  if [ ! -f build/build.ninja ]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build build -j"$(nproc)"
}

# For the bench scripts: sets `defaults` to the given "--option value" pairs whose option is not
# already among the caller's `args` (the programs refuse an option given twice).
sg_defaults_unless_given() {
  defaults=()
  local kv
  for kv in "$@"; do
    [[ " ${args[*]} " == *" ${kv%% *} "* ]] || defaults+=($kv)
  done
}
