#!/usr/bin/env bash
# README's first command: on a fresh Debian machine with Rust, installs cmake when missing
# (pingora builds zlib-ng with it), builds, and runs the gateway with the shipped config, whose
# demo app runs inside the gateway. It prints the URL to open and how to sign in.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cmake >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq cmake >/dev/null
fi
cargo build --release --locked
exec target/release/qrgate run --config config.toml
