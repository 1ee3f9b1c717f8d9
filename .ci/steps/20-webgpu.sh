# WebGPU for the GPU tests: CI has no GPU, so Dawn runs on Mesa's software Vulkan driver
# (lavapipe). Bookworm's Mesa 22 is rejected by Dawn; Mesa 25 comes from bookworm-backports.
# Sourced by .ci/run (set -euo pipefail, $SUDO set): no exit here.
# The backports suite comes from the mirror this machine already uses for bookworm (read from
# its apt sources, one-line or deb822 format), so no mirror's name is written here.
hanami_bookworm_mirror() {
  local file
  # deb822 (.sources): a stanza whose Suites list bookworm; its URIs.
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
      /(^|\n)Suites:[^\n]*(^|[ \t])bookworm([ \t]|$)/ && !/(^|\n)Enabled:[ \t]*no/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); print u[1]; exit }
      }' "$file"
  done
  # One-line format: deb [options] URI bookworm components...
  # (Either file may be missing: grep's status 2 must not end the sourcing script.)
  { grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
    sed -E 's/\[[^]]*\][[:space:]]*//' | awk '$3 == "bookworm" { print $2; exit }'
}
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/ && ! grep -qs 'bookworm-backports' /etc/apt/sources.list; then
  hanami_mirror="$(hanami_bookworm_mirror | head -n 1)"
  if [ -z "$hanami_mirror" ]; then
    echo "::error::no apt source for Debian bookworm found; cannot add bookworm-backports for Mesa 25" >&2
    return 1
  fi
  echo "deb $hanami_mirror bookworm-backports main" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  unset hanami_mirror
fi
unset -f hanami_bookworm_mirror
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
