# Sourced by the bench scripts (after lib.sh): run Prosody and ejabberd from ../shared/peers
# with a TLS WebSocket listener added, so `wss` figures can be taken beside tern's. The shared
# setup serves HTTP without TLS; these functions derive a configuration from it at run time
# (Prosody: `Include` plus `Host "*"` overrides; ejabberd: one more listener inserted), start
# the server the way ../shared/peers/start.sh does (same data, users, pid files, so stop.sh
# and restart_target keep working), and point the loader at it:
#   Prosody  wss://localhost:25281/xmpp-websocket
#   ejabberd wss://localhost:35281/ws
# Both use a certificate for "localhost" made here; the loader trusts it via SSL_CERT_FILE.
TLS_DIR=/tmp/lab/tls

# A self-signed certificate with subjectAltName localhost (Python checks SANs, not the CN).
make_peer_cert() {
    mkdir -p "$TLS_DIR"
    [ -f "$TLS_DIR/localhost.pem" ] && return
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost -keyout "$TLS_DIR/localhost.key" \
        -out "$TLS_DIR/localhost.crt" 2>/dev/null
    cat "$TLS_DIR/localhost.crt" "$TLS_DIR/localhost.key" >"$TLS_DIR/localhost.pem"
    chmod 644 "$TLS_DIR"/localhost.*
}

# The loader arguments and certificate for a peer's wss endpoint.
peer_wss_args() {
    case "$1" in
        *prosody*) echo "--ws-url wss://localhost:25281/xmpp-websocket" ;;
        *ejabberd*) echo "--ws-url wss://localhost:35281/ws" ;;
        *) echo "--ws-url wss://localhost:15291/xmpp-websocket" ;;
    esac
}
peer_cert_file() {
    case "$1" in
        *prosody* | *ejabberd*) echo "$TLS_DIR/localhost.crt" ;;
        *) echo /tmp/lab/tern/certs/localhost.crt ;;
    esac
}

wait_tcp() { for _ in $(seq 1 60); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 1; done; return 1; }

# Stop the peer (however it was started) and start it with the TLS listener added.
start_peer_tls() {
    make_peer_cert
    bash "$PEERS/stop.sh" "$1" >/dev/null
    case "$1" in
        prosody)
            cat >"$TLS_DIR/prosody.cfg.lua" <<EOF
Include "$PEERS/prosody/prosody.cfg.lua"
Host "*"
https_ports = { 25281 }
https_interfaces = { "127.0.0.1" }
https_ssl = { certificate = "$TLS_DIR/localhost.crt"; key = "$TLS_DIR/localhost.key"; }
EOF
            nohup prosody --config "$TLS_DIR/prosody.cfg.lua" >/tmp/lab/prosody/stdout.log 2>&1 &
            echo $! >/tmp/lab/prosody/started.pid
            wait_tcp 25281
            ;;
        ejabberd)
            local ej=/tmp/lab/ejabberd
            python3 - "$PEERS/ejabberd/ejabberd.yml" "$ej/ejabberd.yml" "$TLS_DIR/localhost.pem" <<'EOF'
import sys
src, dst, pem = sys.argv[1:]
text = open(src).read()
listener = ('listen:\n  -\n    port: 35281\n    ip: "127.0.0.1"\n    module: ejabberd_http\n'
            '    tls: true\n    backlog: 1024\n    request_handlers:\n      /ws: ejabberd_http_ws\n')
text = text.replace('listen:\n', listener, 1)
text = text.replace('  - "/etc/ejabberd/ejabberd.pem"', '  - "%s"' % pem, 1)
open(dst, 'w').write(text)
EOF
            chown ejabberd:ejabberd "$ej/ejabberd.yml"
            local ctl=(setpriv --reuid=ejabberd --regid=ejabberd --init-groups env HOME=/var/lib/ejabberd ejabberdctl
                --config-dir "$ej" --config "$ej/ejabberd.yml" --ctl-config "$ej/ejabberdctl.cfg" --spool "$ej/db" --logs "$ej/log")
            "${ctl[@]}" start
            "${ctl[@]}" started
            cp "$ej/ejabberd.pid" "$ej/started.pid"
            wait_tcp 35281
            ;;
    esac
}
