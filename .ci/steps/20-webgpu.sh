# WebGPU for the GPU tests: CI has no GPU, so Dawn runs on Mesa's software Vulkan driver
# (lavapipe). Bookworm's Mesa 22 is rejected by Dawn; Mesa 25 comes from bookworm-backports.
# Sourced by .ci/run (set -euo pipefail, $SUDO set): no exit here.
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null

# Dawn warns without a writable runtime directory.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ] || [ ! -w "$XDG_RUNTIME_DIR" ]; then
  XDG_RUNTIME_DIR="$(mktemp -d /tmp/hanami-xdg.XXXXXX)"
  chmod 700 "$XDG_RUNTIME_DIR"
fi
export XDG_RUNTIME_DIR

# A missing adapter fails the GPU tests instead of skipping them.
export HANAMI_REQUIRE_WEBGPU=1
