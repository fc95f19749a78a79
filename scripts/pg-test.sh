#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite.
#
#   scripts/pg-test.sh start DIR   create and start a cluster; print its URL
#   scripts/pg-test.sh stop DIR    stop it and remove it (and DIR)
#
# DIR only keeps track of the cluster (files `cluster`, `port`, `url`). The
# cluster itself lives in a fresh directory under /tmp owned by the `postgres`
# user, because initdb refuses to run as root and the postgres user may not be
# able to enter a root-owned checkout. It listens on 127.0.0.1 only, on the
# first free port from 55432 up, with trust authentication (loopback only), and
# has a database `concord_test`. Durability is switched off: it is a test
# database that is thrown away.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 64
}

[[ $# -eq 2 ]] || usage
action=$1
state_dir=$2

die() {
    echo "pg-test: $*" >&2
    exit 1
}

pg_bindir() {
    local dir
    # Highest installed major version first (sort -V handles 9.6 < 15 < 16).
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
            echo "$dir"
            return 0
        fi
    done
    die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (apt-get install postgresql)"
}

# Run a server binary as the cluster owner: `postgres` when we are root,
# ourselves otherwise.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

port_in_use() {
    # Anything accepting connections on the port counts as taken.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

safe_cluster_path() {
    [[ $1 == /tmp/concord-pg.* && -d $1 ]]
}

stop_cluster() {
    local cluster=""
    if [[ -f $state_dir/cluster ]]; then
        cluster=$(<"$state_dir/cluster")
    fi
    if [[ -n $cluster ]] && safe_cluster_path "$cluster"; then
        if [[ -f $cluster/data/postmaster.pid ]]; then
            local bindir
            bindir=$(pg_bindir)
            as_owner "$bindir/pg_ctl" -D "$cluster/data" -m immediate -w -t 30 stop \
                >/dev/null 2>&1 || true
        fi
        rm -rf -- "$cluster"
    fi
    rm -rf -- "$state_dir"
}

start_cluster() {
    local bindir cluster port url started=""
    bindir=$(pg_bindir)
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        die "there is no 'postgres' user (apt-get install postgresql)"
    fi
    # A cluster left behind by an interrupted run under the same DIR goes first.
    if [[ -e $state_dir/cluster ]]; then
        stop_cluster
    fi
    mkdir -p -- "$state_dir"
    cluster=$(mktemp -d /tmp/concord-pg.XXXXXX)
    echo "$cluster" >"$state_dir/cluster"
    if [[ $EUID -eq 0 ]]; then
        chown postgres: "$cluster"
    fi
    chmod 700 "$cluster"

    if ! as_owner "$bindir/initdb" -D "$cluster/data" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >"$cluster/initdb.log" 2>&1; then
        cat "$cluster/initdb.log" >&2
        stop_cluster
        die "initdb failed"
    fi
    # initdb's pg_hba.conf with --auth=trust trusts local sockets and the
    # 127.0.0.1/32 and ::1/128 host lines only; the server listens on 127.0.0.1.
    cat >>"$cluster/data/postgresql.conf" <<EOF

# concord test cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$cluster'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF

    for port in $(seq 55432 55531); do
        port_in_use "$port" && continue
        # Another process may take the port between the check and the start:
        # then the start fails and the next port is tried.
        if as_owner "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
            -o "-p $port" start >/dev/null 2>&1; then
            started=$port
            break
        fi
    done
    if [[ -z $started ]]; then
        tail -n 20 "$cluster/server.log" >&2 2>/dev/null || true
        stop_cluster
        die "could not start PostgreSQL on any port 55432-55531"
    fi
    port=$started
    echo "$port" >"$state_dir/port"

    if ! "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres \
        -d postgres -c "CREATE DATABASE concord_test" >/dev/null 2>"$cluster/createdb.log"; then
        cat "$cluster/createdb.log" >&2
        stop_cluster
        die "could not create database concord_test"
    fi
    url="postgresql+asyncpg://postgres@127.0.0.1:$port/concord_test"
    echo "$url" >"$state_dir/url"
    echo "$url"
}

case $action in
start) start_cluster ;;
stop) stop_cluster ;;
*) usage ;;
esac
