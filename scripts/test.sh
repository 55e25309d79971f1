#!/usr/bin/env bash
# Install everything the tests need and run them: on Debian as root the system packages (real
# mail clients, Chromium, Postfix/Dovecot for the benchmarks), then the Python packages into
# ./.venv, then the linters, the type checker, the layer contracts and the test suite.
# PostgreSQL must be reachable (MAILGATE_TEST_PG_URL, default postgres@127.0.0.1:5432): its half
# of the storage tests fails, never skips, without it. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

DEBIAN_PACKAGES=(
  python3-venv sqlite3 chromium swaks libnet-ssleay-perl libio-socket-ssl-perl msmtp
  postfix dovecot-imapd dovecot-pop3d isync fetchmail getmail6 offlineimap3
)
if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
  missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "missing Debian packages: ${missing[*]} (run this script as root to install them)" >&2
      exit 1
    fi
    echo "installing Debian packages: ${missing[*]}"
    # Postfix is only a benchmark reference here: no configuration, no questions.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

export PATH="$PWD/.venv/bin:$PATH"
set -x
ruff check src tests bench
ruff format --check src tests bench
mypy --strict src
lint-imports
pytest -q "$@"
