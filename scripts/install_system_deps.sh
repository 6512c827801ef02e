#!/usr/bin/env bash
# System packages corrviz's tests need (Debian/Ubuntu): Xvfb + Mesa for the GUI tests (VisPy needs
# OpenGL), the xcb libraries Qt's platform plugin asks for, libusb/libgomp for Open3D, and Vulkan for
# Open3D's offscreen renderer. Does nothing when all are installed; uses sudo when not root.
set -euo pipefail
PKGS=(xvfb xauth libgl1 libgl1-mesa-dri libglx-mesa0 libegl1 libgles2 libopengl0
      libxkbcommon-x11-0 libxkbcommon0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
      libxcb-shm0 libxcb-sync1 libxcb-render0 libxrender1 libxi6 libsm6 libice6 libdbus-1-3 libfontconfig1
      libfreetype6 libglib2.0-0 libusb-1.0-0 libgomp1 mesa-vulkan-drivers libvulkan1)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "system packages: all ${#PKGS[@]} present"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "system packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
