#!/usr/bin/env bash
# Installs Workbench and everything its workers and tests use, into the current Python environment.
# System packages (Debian/Ubuntu, only when missing): libmagic1 (file types), tshark (independent PCAP
# parser used by the tests), nodejs/npm and libzmq3-dev (the Node.js client), chromium (the web view's browser
# tests). Safe to run again.
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
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)   # the group tests' load balancer
command -v g++ >/dev/null || need+=(g++)
command -v readelf >/dev/null || need+=(binutils)            # ELF reference for the elf worker's tests
command -v llvm-objdump >/dev/null || need+=(llvm)           # Mach-O reference for the macho worker's tests
command -v osslsigncode >/dev/null || need+=(osslsigncode)   # Authenticode reference for pe_authenticode's
command -v monodis >/dev/null || need+=(mono-utils)          # .NET metadata reference for pe_dotnet's tests
command -v make >/dev/null || need+=(make)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the web view's browser tests (Playwright drives this binary)
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

# A macOS executable for the macho tests (MH_EXECUTE, PIE, LC_MAIN): ninja's universal2 build from PyPI
# (Apache-2.0), 647 KB, too big to ship in the repository. The tests that need it skip without it.
fetched=tests/data/fetched
if [ ! -f "$fetched/ninja-1.13.2-universal2" ]; then
  mkdir -p "$fetched"
  if "$PYTHON" -m pip download -q --disable-pip-version-check --only-binary=:all: --no-deps \
       --platform macosx_10_9_universal2 ninja==1.13.2 -d "$fetched" >/dev/null 2>&1; then
    "$PYTHON" -c 'import pathlib, sys, zipfile
folder = pathlib.Path(sys.argv[1])
wheel = next(folder.glob("ninja-1.13.2-*.whl"))
(folder / "ninja-1.13.2-universal2").write_bytes(zipfile.ZipFile(wheel).read("ninja-1.13.2.data/scripts/ninja"))
wheel.unlink()' "$fetched"
  else
    echo "install.sh: could not fetch ninja's macOS wheel from PyPI; the Mach-O executable tests will skip" >&2
  fi
fi
echo "install.sh: done. Start the server with: workbench-server"
