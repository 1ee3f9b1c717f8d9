# Debian's Chromium for the Swagger UI test (test/server/api/swagger-ui.test.ts), driven by
# playwright-core (which downloads no browser of its own). The test fails in CI without it.
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi
chromium --version 2>/dev/null
