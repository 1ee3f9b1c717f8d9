# The official Python Socket.IO client, for the interop test of direct network I/O
# (test/server/io/python.test.ts): a client nobody here wrote must speak our protocol.
if ! python3 -m venv --help >/dev/null 2>&1; then
  $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
HANAMI_PYTHON_ENV="${TMPDIR:-/tmp}/hanami-ci-python"
python3 -m venv "$HANAMI_PYTHON_ENV"
"$HANAMI_PYTHON_ENV/bin/pip" install -q --disable-pip-version-check \
  python-socketio==5.18.1 python-engineio==4.15.1 websocket-client==1.9.2 requests==2.34.2 simple-websocket==1.1.0
export HANAMI_PYTHON="$HANAMI_PYTHON_ENV/bin/python"
"$HANAMI_PYTHON" -c 'import socketio, requests; print("python-socketio client ready")'
