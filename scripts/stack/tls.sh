# shellcheck shell=bash
# The stack's own certificate authority and the certificates it signs, for the TLS listeners of
# Kafka and PostgreSQL (docs/production/connections.md, "On the local stack"). Generated once with
# openssl into the state directory and kept: a client that trusts the CA keeps trusting it.

STACK_TLS_DIR="$STACK_STATE_DIR/tls"
STACK_TLS_CA="$STACK_TLS_DIR/ca.crt"

# tls_issue NAME PURPOSE: NAME.key and NAME.crt, signed by the stack's CA, for 127.0.0.1 and localhost.
tls_issue() {
  local name=$1 purpose=$2 dir=$STACK_TLS_DIR
  [ -s "$dir/$name.crt" ] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
    -subj "/CN=temporal-pipelines $name" 2>/dev/null
  printf 'subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=%s\n' "$STACK_HOST" "$purpose" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$STACK_TLS_CA" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 825 -extfile "$dir/$name.ext" -out "$dir/$name.crt.tmp" 2>/dev/null
  mv "$dir/$name.crt.tmp" "$dir/$name.crt"
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  chmod 600 "$dir/$name.key"
}

# The CA, then the certificates of Kafka's TLS listener, of PostgreSQL, and of the client Kafka's
# listener requires (it asks for a client certificate: the mTLS of a managed Kafka or Temporal Cloud).
ensure_tls() {
  command -v openssl >/dev/null || apt_install openssl
  mkdir -p "$STACK_TLS_DIR"
  chmod 700 "$STACK_TLS_DIR"
  if [ ! -s "$STACK_TLS_CA" ]; then
    log "generating the stack's certificate authority in $STACK_TLS_DIR"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$STACK_TLS_DIR/ca.key" -out "$STACK_TLS_CA.tmp" -days 3650 \
      -subj "/CN=temporal-pipelines local stack CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || die "openssl could not create the stack's CA"
    chmod 600 "$STACK_TLS_DIR/ca.key"
    mv "$STACK_TLS_CA.tmp" "$STACK_TLS_CA"
  fi
  tls_issue kafka-broker serverAuth || die "openssl could not issue Kafka's certificate"
  tls_issue postgres serverAuth || die "openssl could not issue PostgreSQL's certificate"
  tls_issue client clientAuth || die "openssl could not issue the client certificate"
  # For the TLS front a test puts before Temporal's dev server, which has no TLS of its own.
  tls_issue temporal serverAuth || die "openssl could not issue Temporal's certificate"
}
