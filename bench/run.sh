#!/usr/bin/env bash
# bgcopy benchmarks: installs the tools if missing, builds the driver, runs bench.py.
#   bench/run.sh [--rounds N] [--only a|b|c|d] [--quick] [--port P] [--no-readme] [--no-cli]
# See bench/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# Debian packages: nginx-light (the server), the clients, and time(1) for manual checks.
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v wget >/dev/null 2>&1 || need+=(wget)
command -v aria2c >/dev/null 2>&1 || need+=(aria2)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    echo "[bench] installing: ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update
    # bench.py runs its own nginx on its own port; a system service, if one starts, is not used.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nginx-light curl wget aria2 time
fi
command -v python3 >/dev/null 2>&1 || { echo "python3 is required" >&2; exit 2; }

# The driver (and the CLI, for the optional row) in release mode.
echo "[bench] cargo build --release -p bgcopy-bench"
(cd "$root" && cargo build --release -p bgcopy-bench)

exec python3 "$here/bench.py" "$@"
