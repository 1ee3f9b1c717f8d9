# FerretDB v1.24.0 (the MongoDB wire protocol over SQLite) for the MongoDB store tests
# (test/server/store/mongo.test.ts). Builds it with Go, starts it on a free loopback port
# with a fresh data folder, and exports HANAMI_TEST_MONGO_URL and HANAMI_REQUIRE_MONGO=1 so
# the tests must run.
#
# Sourced by .ci/run (set -euo pipefail): never `exit`; failures `return 1`. Everything this
# file defines starts with hanami_ferret_ (not FERRETDB_: FerretDB reads those as flags).
#
# Why not just `go install github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.0`: that builds,
# but the binary panics at start ("Invalid build/version/version.txt file content"): the
# release's version.txt is generated at release time and is not in the Go module. So we
# build the very same module source with that one file added. Takes ~2 minutes on 2 cores
# with empty Go caches (module download included).

hanami_ferret_version=v1.24.0

hanami_ferret_fail() {
  echo "::error::FerretDB: $*" >&2
  return 1
}

# Prints a Go toolchain new enough for FerretDB v1.24.0 (go 1.22+), installing Debian's
# backported Go 1.23 when none is there.
hanami_ferret_find_go() {
  local candidate minor
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go-1.23/bin/go; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    minor="$(GOTOOLCHAIN=local "$candidate" env GOVERSION | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')"
    if [ -n "$minor" ] && [ "$minor" -ge 22 ]; then
      echo "$candidate"
      return 0
    fi
  done
  echo "no Go >= 1.22 found; installing golang-1.23-go (bookworm-backports)" >&2
  $SUDO apt-get install -y -qq golang-1.23-go >/dev/null || hanami_ferret_fail "could not install golang-1.23-go" || return 1
  echo /usr/lib/go-1.23/bin/go
}

# Builds $(go env GOPATH)/bin/ferretdb (kept when that version is already there) and prints its path.
hanami_ferret_build() {
  local go="$1" bin src work log started
  bin="$(GOTOOLCHAIN=local "$go" env GOPATH)/bin/ferretdb"
  # (Output captured first: with pipefail, `grep -q` closing the pipe early would fail it.)
  if [ -x "$bin" ] && [[ "$("$bin" --version 2>/dev/null || true)" == *"version: $hanami_ferret_version"* ]]; then
    echo "$bin"
    return 0
  fi
  started=$SECONDS
  # Command substitution does not inherit `set -e`, hence the explicit `|| return 1`s.
  work="$(mktemp -d "${TMPDIR:-/tmp}/hanami-ferretdb-build.XXXXXX")" || return 1
  log="$work/build.log"
  src="$(GOTOOLCHAIN=local "$go" mod download -json "github.com/FerretDB/FerretDB@$hanami_ferret_version" 2>"$log" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  if [ -z "$src" ] || [ ! -d "$src" ]; then
    cat "$log" >&2
    hanami_ferret_fail "go mod download github.com/FerretDB/FerretDB@$hanami_ferret_version failed (is the Go module proxy reachable?)" || return 1
  fi
  cp -R "$src" "$work/src" || return 1
  chmod -R u+w "$work/src" || return 1
  echo "$hanami_ferret_version" >"$work/src/build/version/version.txt" || return 1
  mkdir -p "$(dirname "$bin")" || return 1
  if ! (cd "$work/src" && GOTOOLCHAIN=local "$go" build -trimpath -o "$bin" ./cmd/ferretdb) >>"$log" 2>&1; then
    tail -n 60 "$log" >&2
    hanami_ferret_fail "go build of FerretDB $hanami_ferret_version failed (log above)" || return 1
  fi
  rm -rf "$work"
  echo "FerretDB $hanami_ferret_version built in $((SECONDS - started)) s: $bin" >&2
  echo "$bin"
}

hanami_ferret_port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Starts FerretDB on a random free port (another try on another port if it cannot bind),
# waits until it accepts connections, and exports the test settings.
hanami_ferret_start() {
  local bin="$1" dir port pid attempt
  dir="$(mktemp -d "${TMPDIR:-/tmp}/hanami-ferretdb.XXXXXX")"
  mkdir -p "$dir/data" "$dir/state"
  for attempt in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    hanami_ferret_port_in_use "$port" && continue
    # The trailing slash of --sqlite-url matters; the folder must exist. Output goes to a
    # file, so the server holds no pipe of the CI job open.
    "$bin" --handler=sqlite --sqlite-url="file:$dir/data/" --state-dir="$dir/state" \
      --listen-addr="127.0.0.1:$port" --debug-addr=- --telemetry=disable --log-level=warn \
      </dev/null >"$dir/ferretdb.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 60); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if hanami_ferret_port_in_use "$port"; then
        # Stop the server when the CI shell ($$) ends, without touching its traps.
        (while kill -0 "$$" 2>/dev/null; do sleep 5; done; kill "$pid" 2>/dev/null) </dev/null >/dev/null 2>&1 &
        export HANAMI_TEST_MONGO_URL="mongodb://127.0.0.1:$port/"
        export HANAMI_REQUIRE_MONGO=1
        echo "FerretDB $hanami_ferret_version listening on 127.0.0.1:$port (pid $pid, data $dir/data, log $dir/ferretdb.log)"
        return 0
      fi
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      tail -n 40 "$dir/ferretdb.log" >&2
      hanami_ferret_fail "did not accept connections on 127.0.0.1:$port within 30 s (log above)" || return 1
    fi
    echo "FerretDB exited at start (attempt $attempt, port $port):" >&2
    tail -n 20 "$dir/ferretdb.log" >&2
  done
  hanami_ferret_fail "could not start after 5 attempts (logs above)" || return 1
}

hanami_ferret_go_bin="$(hanami_ferret_find_go)"
hanami_ferret_bin="$(hanami_ferret_build "$hanami_ferret_go_bin")"
hanami_ferret_start "$hanami_ferret_bin"
unset hanami_ferret_go_bin hanami_ferret_bin hanami_ferret_version
unset -f hanami_ferret_fail hanami_ferret_find_go hanami_ferret_build hanami_ferret_port_in_use hanami_ferret_start
