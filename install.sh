#!/usr/bin/env bash
# Installs Workbench and everything its workers and tests use, into the current Python environment.
# System packages (Debian/Ubuntu, only when missing): libmagic1 (file types), tshark (independent PCAP
# parser used by the tests), nodejs/npm and libzmq3-dev (the Node.js client). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

need=()
[ -e /usr/lib/x86_64-linux-gnu/libmagic.so.1 ] || ldconfig -p 2>/dev/null | grep -q libmagic.so.1 || need+=(libmagic1)
command -v tshark >/dev/null || need+=(tshark)
command -v pdfinfo >/dev/null || need+=(poppler-utils)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -e /usr/include/zmq.h ] || need+=(libzmq3-dev)   # the Node.js client's zeromq 5 builds against it
command -v g++ >/dev/null || need+=(g++)
command -v readelf >/dev/null || need+=(binutils)            # ELF reference for the elf worker's tests
command -v llvm-objdump >/dev/null || need+=(llvm)           # Mach-O reference for the macho worker's tests
command -v osslsigncode >/dev/null || need+=(osslsigncode)   # Authenticode reference for pe_authenticode's
command -v monodis >/dev/null || need+=(mono-utils)          # .NET metadata reference for pe_dotnet's tests
command -v make >/dev/null || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "install.sh: installing system packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install.sh: please install these system packages yourself: ${need[*]}" >&2
  fi
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]'
echo "install.sh: done. Start the server with: workbench-server"
