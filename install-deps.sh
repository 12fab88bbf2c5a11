#!/usr/bin/env bash
# Installs the Debian 12 packages noble needs, only those that are missing.
# Uses apt-get directly as root, sudo otherwise. Safe to run repeatedly.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libvulkan-dev libvulkan1 libvulkan-volk-dev
  glslang-dev glslang-tools spirv-tools
  libvkfft-dev
  liblua5.4-dev lua5.4
  libhdf5-dev hdf5-tools
  mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  libfftw3-dev
  libplplot-dev plplot-driver-cairo
  python3 python3-numpy python3-h5py python3-torch
  neuron neuron-dev python3-neuron
  openmpi-bin libopenmpi-dev
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
