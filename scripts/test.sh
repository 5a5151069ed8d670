#!/usr/bin/env bash
# The test command (README "Tests"; docs/development.md): installs what the build and tests need (cmake; Chromium;
# nginx, Caddy and systemd-analyze for the deploy samples; redis-server for the shared store;
# Node and openid-client for the OpenID Connect provider's tests; Python and Synapse for
# the OpenID Connect application test),
# then runs fmt, clippy and the whole test suite in one build profile.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
# The browser test drives Debian's Chromium through its ChromeDriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# The forward-auth samples run with the real nginx and Caddy; the systemd unit is verified.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v caddy >/dev/null 2>&1 || need_apt+=(caddy)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# Debian's redis-server also runs the Sentinels of the failover tests (redis-server --sentinel),
# and speaks TLS; redis-cli (redis-tools) is what operators use alongside.
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
# The OpenID Connect tests drive the provider with a certified relying party library under Node.
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
# Synapse (a real relying party) runs in a Python virtualenv.
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# panva's openid-client, installed once into the target folder (tests/oidc.rs runs it).
node_prefix="${QRGATE_NODE_PREFIX:-target/oidc-node}"
if [ ! -f "$node_prefix/node_modules/openid-client/package.json" ]; then
  mkdir -p "$node_prefix"
  npm install --prefix "$node_prefix" --no-audit --no-fund --silent openid-client@6
fi
QRGATE_NODE_PREFIX="$(cd "$node_prefix" && pwd)"
export QRGATE_NODE_PREFIX

# Matrix Synapse, a real OpenID Connect application (tests/oidc_synapse.rs), installed once
# into a virtualenv in the user's cache (about a minute; 250 MB), reused while it imports.
synapse_venv="${QRGATE_SYNAPSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/qrgate/synapse-venv}"
if ! "$synapse_venv/bin/python" -c "import synapse, authlib" >/dev/null 2>&1; then
  python3 -m venv "$synapse_venv"
  "$synapse_venv/bin/pip" install -q "matrix-synapse[oidc]"
fi
QRGATE_SYNAPSE_VENV="$(cd "$synapse_venv" && pwd)"
export QRGATE_SYNAPSE_VENV

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

# One test binary per crate: qrgate-core's unit tests and qrgate's integration binary.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# Sum every binary's "test result:" line into the one closing line CI reads.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
