# shellcheck shell=bash
# Shell helpers shared by scripts/test.sh and scripts/bench.sh (sourced, not run).

# Prints the directory holding initdb and pg_ctl: the highest Debian-style version first,
# then PATH.
find_pg_bin() {
    local dir
    # shellcheck disable=SC2012 # the version directories' names are plain numbers
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    local initdb
    if initdb=$(command -v initdb) && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    return 1
}

# A port nobody answers on; callers retry if another process takes it first.
pick_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
}

# Writes DIR/nginx.conf: nginx on 127.0.0.1:PORT balancing over forge-server instances on
# the given loopback ports, with uploads streamed through (no request buffering, no body
# size limit) and keep-alive connections to the instances.
write_balancer_conf() {
    local dir=$1 port=$2 upstream
    shift 2
    mkdir -p "$dir/temp"
    local user_line=""
    # Workers must write their temporary files inside a directory only the caller may enter.
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    {
        echo "$user_line"
        cat <<EOF
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/temp;
    proxy_temp_path $dir/temp;
    fastcgi_temp_path $dir/temp;
    uwsgi_temp_path $dir/temp;
    scgi_temp_path $dir/temp;
    upstream forge {
        least_conn;
EOF
        for upstream in "$@"; do
            echo "        server 127.0.0.1:$upstream;"
        done
        cat <<EOF
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$port;
        # Uploads stream through to an instance as they arrive, whatever their size.
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        location / {
            proxy_pass http://forge;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
}
