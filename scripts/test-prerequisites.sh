#!/usr/bin/env bash
# The first step of `npm test`: makes sure what the tests talk to is here and running, so the
# README's test command is the whole set-up on a fresh machine.
#   - git (runbook repositories) and OpenSSH's sshd: the SSH tests start throwaway sshd
#     servers of their own on high loopback ports; they only need the binary.
#   - Chromium (/usr/bin/chromium): the web console's tests drive it headless with playwright-core.
#   - PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), NATS with JetStream on
#     127.0.0.1:4222 and MariaDB on 127.0.0.1:3306 (root without a password, for executor-mysql):
#     started with the machine's own commands when they are installed but down.
# Missing packages are installed with apt-get when this runs as root; otherwise it says what
# to install and stops.
set -euo pipefail

say() { echo "test setup: $*" >&2; }

missing=()
command -v git >/dev/null || missing+=(git)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
# The reliability slice: its own nats-server, and jq for the escaping suite's nested contexts.
[ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v jq >/dev/null || missing+=(jq)
# The web console's browser tests (test/console.e2e-spec.ts): Debian's Chromium, driven by playwright-core.
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "the tests need ${missing[*]}; install them (e.g. sudo apt-get install ${missing[*]}) and run again"
    exit 1
  fi
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  fi
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 0.5; done
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { say "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; }
fi

nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  if [ -x /usr/sbin/nats-server ]; then
    say "starting NATS with JetStream"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  fi
  for _ in $(seq 1 60); do nats_up && break; sleep 0.5; done
  nats_up || { say "NATS is not reachable on 127.0.0.1:4222 (nats-server -js)"; exit 1; }
fi

mariadb_up() { (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; }
if ! mariadb_up; then
  if [ -x /usr/sbin/mariadbd ]; then
    say "starting MariaDB"
    if [ ! -d /var/lib/mysql/mysql ]; then
      mariadb-install-db --user=mysql --datadir=/var/lib/mysql --auth-root-authentication-method=normal >/dev/null
    fi
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
      --user=mysql --bind-address=127.0.0.1 --port=3306
  fi
  for _ in $(seq 1 60); do mariadb_up && break; sleep 0.5; done
  mariadb_up || { say "MariaDB is not reachable on 127.0.0.1:3306 (mariadbd)"; exit 1; }
fi
# The tests log in as root over TCP without a password and use the database `test`.
if command -v mariadb >/dev/null && ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
  say "letting root log in over TCP without a password (test server only)"
  mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES" || true
fi
command -v mariadb >/dev/null && mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE IF NOT EXISTS test' >/dev/null 2>&1 || true
