#!/usr/bin/env bash
# Install the system packages photoshelf needs; with --test also make sure a MariaDB server for the tests runs.
#
#   bash scripts/setup-system.sh          exiftool + ffmpeg
#   bash scripts/setup-system.sh --test   + mariadb-server, chromium, chromium-driver, rclone, litmus (real WebDAV
#                                           clients for the WebDAV tests), and a MariaDB server
#                                           answering on 127.0.0.1:3306 as root with an empty password
#
# Idempotent: a machine that already has everything does no apt work and touches no database.
# As root with apt-get it installs what is missing; otherwise it prints the command to run and fails only
# when exiftool (the one tool indexing cannot do without) is missing.
set -euo pipefail

readonly MARIADBD=/usr/sbin/mariadbd
readonly MARIADB_WAIT_S=60
readonly MARIADB_LOG=/var/log/mysql/photoshelf-setup.log

with_test=0

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
}

for arg in "$@"; do
    case "$arg" in
        --test) with_test=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "setup-system: unknown argument: $arg (try --help)" >&2; exit 2 ;;
    esac
done

say() { printf 'setup-system: %s\n' "$*"; }
warn() { printf 'setup-system: WARNING: %s\n' "$*" >&2; }
die() { printf 'setup-system: ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" == 0 ]]; }

# A package counts as present when dpkg says it is installed, or, on machines where the tool came from
# elsewhere (no dpkg, a tarball, a container base image), when the command it provides is on PATH.
has_package() {
    local pkg="$1"
    if command -v dpkg-query >/dev/null 2>&1 \
        && [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]]; then
        return 0
    fi
    case "$pkg" in
        libimage-exiftool-perl) command -v exiftool ;;
        ffmpeg) command -v ffmpeg && command -v ffprobe ;;
        mariadb-server) command -v mariadbd || command -v mysqld || [[ -x "$MARIADBD" ]] ;;
        chromium) command -v chromium || command -v chromium-browser ;;
        chromium-driver) command -v chromedriver ;;
        rclone) command -v rclone ;;
        litmus) command -v litmus ;;
        *) false ;;
    esac >/dev/null 2>&1
}

install_packages() {
    local wanted=(libimage-exiftool-perl ffmpeg)
    if ((with_test)); then
        wanted+=(mariadb-server chromium chromium-driver rclone litmus)
    fi

    local missing=() pkg
    for pkg in "${wanted[@]}"; do
        has_package "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]} == 0)); then
        say "system packages present: ${wanted[*]}"
        return 0
    fi

    if is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
        return 0
    fi

    warn "missing system packages: ${missing[*]}"
    if command -v apt-get >/dev/null 2>&1; then
        warn "install them with:"
        warn "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    else
        warn "no apt-get here: install the equivalent packages with your system's package manager"
    fi
    if ! command -v exiftool >/dev/null 2>&1; then
        die "exiftool is required; install libimage-exiftool-perl and run this again"
    fi
    warn "continuing without them: the features and tests that need them will fail or be skipped"
}

mariadb_client() {
    if command -v mariadb >/dev/null 2>&1; then
        echo mariadb
    elif command -v mysql >/dev/null 2>&1; then
        echo mysql
    else
        return 1
    fi
}

# Root over TCP with an empty password: what the tests use (PHOTOSHELF_TEST_MARIADB=mysql://root@127.0.0.1:3306).
tcp_answers() {
    "$client" --protocol=TCP -h127.0.0.1 -P3306 -uroot --connect-timeout=2 -e 'select 1' >/dev/null 2>&1
}

# Root over the local socket (unix_socket auth when we are root): lets us fix up accounts the TCP login lacks.
socket_answers() {
    "$client" -uroot --connect-timeout=2 -e 'select 1' >/dev/null 2>&1
}

start_mariadb() {
    [[ -x "$MARIADBD" ]] || die "$MARIADBD not found although mariadb-server is installed"
    # mysql owns the runtime dir for the socket and pid file; /run is a tmpfs, so it is gone after a reboot.
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        say "initialising the MariaDB data directory /var/lib/mysql"
        mariadb-install-db --user=mysql >/dev/null
    fi
    install -d -o mysql -g mysql -m 0750 "$(dirname "$MARIADB_LOG")"
    say "starting $MARIADBD (output in $MARIADB_LOG)"
    # No systemd in containers/CI, so run the daemon directly; --oknodo makes a running one a no-op.
    start-stop-daemon --start --oknodo --background --output "$MARIADB_LOG" \
        --exec "$MARIADBD" -- --user=mysql

    local waited=0
    until tcp_answers || socket_answers; do
        if ((waited >= MARIADB_WAIT_S)); then
            warn "last lines of $MARIADB_LOG:"
            tail -n 20 "$MARIADB_LOG" >&2 || true
            die "MariaDB did not answer within ${MARIADB_WAIT_S}s"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "MariaDB is up after ${waited}s"
}

# Test machines only: make root log in over TCP without a password, keeping socket login for root.
allow_passwordless_tcp_root() {
    say "allowing root to log in over TCP without a password (test setup)"
    "$client" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
FLUSH PRIVILEGES;
SQL
}

setup_mariadb() {
    if ! client="$(mariadb_client)"; then
        warn "no mariadb/mysql client: skipping the MariaDB setup; the MariaDB tests will fail"
        return 0
    fi

    if tcp_answers; then
        say "MariaDB answers on 127.0.0.1:3306 as root"
    else
        if ! is_root; then
            warn "MariaDB does not answer on 127.0.0.1:3306 as root with an empty password, and only root"
            warn "can start and configure it here. Run: sudo bash scripts/setup-system.sh --test"
            warn "the MariaDB tests will fail until then"
            return 0
        fi
        if ! has_package mariadb-server; then
            die "mariadb-server is not installed, so no MariaDB server can be started"
        fi
        if ! socket_answers; then
            start_mariadb
        fi
        if ! tcp_answers; then
            socket_answers || die "MariaDB runs but root can log in neither over TCP nor over the socket"
            allow_passwordless_tcp_root
            tcp_answers || die "root still cannot log in to MariaDB on 127.0.0.1:3306 (is networking off? bind-address?)"
        fi
        say "MariaDB answers on 127.0.0.1:3306 as root"
    fi

    "$client" --protocol=TCP -h127.0.0.1 -P3306 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'
    say "database 'test' exists"
}

install_packages
if ((with_test)); then
    setup_mariadb
fi
say "done"
