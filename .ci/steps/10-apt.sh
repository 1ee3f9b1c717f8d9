# System packages the tests need, installed in one apt transaction where possible.
# Fashion-MNIST (60k/10k, IDX) for the dataset tests and the benchmark.
$SUDO apt-get update -qq
# jq and curl: the docs' examples (test/docs/docs.test.ts) use them as a reader would.
$SUDO apt-get install -y -qq dataset-fashion-mnist jq curl >/dev/null
