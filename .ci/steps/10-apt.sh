# System packages the tests need, installed in one apt transaction where possible.
# Fashion-MNIST (60k/10k, IDX) for the dataset tests and the benchmark.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
