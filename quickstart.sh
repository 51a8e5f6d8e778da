#!/usr/bin/env bash
# Quick start on a fresh Debian machine: install RabbitMQ and hybridmsg (into .venv), start
# the local stack in hybrid mode (or the mode given: rabbit, router, hybrid) and prove it
# with real RPC and notification traffic. Run it again at will: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-hybrid}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q rabbitmq-server python3 python3-venv
python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test,bench]'
.venv/bin/hybridmsg up --mode "$mode"
.venv/bin/hybridmsg check
.venv/bin/hybridmsg status
echo "The servers above keep running; stop them with: .venv/bin/hybridmsg down"
