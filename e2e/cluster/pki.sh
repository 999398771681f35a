# A throw-away PKI for the local cluster, made with openssl under $CLUSTER_DIR/pki. Nothing here
# protects anything beyond this machine's loopback; it exists because the apiserver (and
# prometheus-adapter behind the aggregation layer) insist on real TLS and client certificates.
# Files are made once and kept, so restarts keep the same CA, service-account keys and tokens.
# shellcheck shell=bash

PKI_DIR="$CLUSTER_DIR/pki"
CERT_DAYS=365

# The apiserver's names: loopback, the in-cluster service names and the service IP, and podman's
# default bridge gateway (where containers started by the test node agent can reach the host).
APISERVER_SANS="DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
APISERVER_SANS+=",DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1,IP:10.88.0.1"

# new_ca NAME CN
new_ca() {
  [[ -s "$PKI_DIR/$1.crt" ]] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
    -keyout "$PKI_DIR/$1.key" -out "$PKI_DIR/$1.crt" -days $((CERT_DAYS * 10)) -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# new_cert CA NAME SUBJECT USAGE [SANS]: a leaf signed by CA; USAGE is serverAuth or clientAuth.
new_cert() {
  local ca="$1" name="$2" subject="$3" usage="$4" sans="${5:-}"
  [[ -s "$PKI_DIR/$name.crt" ]] && return 0
  local ext
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$usage"
  [[ -n "$sans" ]] && ext+="
subjectAltName=$sans"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
    -keyout "$PKI_DIR/$name.key" -subj "$subject" 2>/dev/null |
    openssl x509 -req -sha256 -days "$CERT_DAYS" -CA "$PKI_DIR/$ca.crt" -CAkey "$PKI_DIR/$ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -extfile <(echo "$ext") -out "$PKI_DIR/$name.crt" 2>/dev/null
}

ensure_pki() {
  # A CA without its key, or leaves without their CA, cannot be trusted: start over.
  if [[ ! -s "$PKI_DIR/ca.key" || ! -s "$PKI_DIR/front-proxy-ca.key" ]]; then rm -rf "$PKI_DIR"; fi
  mkdir -p "$PKI_DIR"
  chmod 700 "$PKI_DIR"
  new_ca ca servingstack-local-ca
  new_ca front-proxy-ca servingstack-local-front-proxy-ca
  new_cert ca apiserver "/CN=kube-apiserver" serverAuth "$APISERVER_SANS"
  new_cert ca controller-manager-serving "/CN=kube-controller-manager" serverAuth "DNS:localhost,IP:127.0.0.1"
  new_cert ca scheduler-serving "/CN=kube-scheduler" serverAuth "DNS:localhost,IP:127.0.0.1"
  new_cert ca admin "/O=system:masters/CN=servingstack-admin" clientAuth
  new_cert ca controller-manager "/CN=system:kube-controller-manager" clientAuth
  new_cert ca scheduler "/CN=system:kube-scheduler" clientAuth
  # The aggregation layer: the apiserver proves itself to extension apiservers (the metrics
  # adapter) with this client cert, which they trust through the front-proxy CA.
  new_cert front-proxy-ca front-proxy-client "/CN=front-proxy-client" clientAuth
  if [[ ! -s "$PKI_DIR/sa.key" ]]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI_DIR/sa.key" 2>/dev/null
    openssl pkey -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  fi
  chmod 600 "$PKI_DIR"/*.key
}

# write_kubeconfig FILE USER: a kubeconfig for the apiserver with USER's client cert embedded,
# so the file works when copied anywhere on this machine.
write_kubeconfig() {
  local file="$1" user="$2" tmp
  tmp="$(mktemp "$file.XXXXXX")"
  cat >"$tmp" <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: servingstack-local
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $(base64 -w0 "$PKI_DIR/ca.crt")
users:
  - name: $user
    user:
      client-certificate-data: $(base64 -w0 "$PKI_DIR/$user.crt")
      client-key-data: $(base64 -w0 "$PKI_DIR/$user.key")
contexts:
  - name: servingstack-local
    context: {cluster: servingstack-local, user: $user, namespace: default}
current-context: servingstack-local
YAML
  chmod 600 "$tmp"
  mv "$tmp" "$file"
}
