#!/usr/bin/env bash
# The baseline kubepki is measured against: the tree `kubepki init --node-name node-1
# --apiserver-advertise-address 192.168.1.10` writes (3 CAs, 7 control-plane leaves, sa.key/sa.pub
# under DIR/pki, and the five kubeconfigs in DIR), built the way the Kubernetes docs' openssl
# walkthroughs teach ("Certificates" / "PKI certificates and requirements", "Configure
# certificates manually"): for each certificate a key (`openssl genrsa` or `openssl ecparam
# -genkey`), a CSR (`openssl req -new`), and a signature by its CA (`openssl x509 -req` with an
# extfile holding the SANs and usages); CAs self-signed with `openssl req -x509 -new`; kubeconfigs
# with `kubectl config set-cluster / set-credentials / set-context / use-context --embed-certs`.
#
# Same subjects (O before CN), SANs, extended key usages, key usages, basic constraints,
# SKI/AKI and validity (CAs 10 years, leaves 1 year) as kubepki; see the README table. Commands
# run one after the other, as a person following the walkthrough would.
#
# Usage: bench/openssl-pki.sh DIR rsa|ecdsa
#   DIR/pki                 the certificates and keys (kubeadm's layout)
#   DIR/*.conf              admin, super-admin, kubelet, controller-manager, scheduler
#   DIR/kubeconfig-certs/   the kubeconfigs' client certificates and keys (embedded in the .conf
#                           files; kept so they can be checked with `openssl verify`)
#   DIR/csr/                the CSRs and extfiles the walkthrough leaves behind
set -euo pipefail

if [[ $# -ne 2 || ( $2 != rsa && $2 != ecdsa ) ]]; then
    echo "usage: $0 DIR rsa|ecdsa" >&2
    exit 2
fi
DIR=$1
ALG=$2
NODE=node-1
ADVERTISE=192.168.1.10
SERVICE_VIP=10.96.0.1 # first IP of kubeadm's default service CIDR 10.96.0.0/12
SERVER=https://$ADVERTISE:6443
CLUSTER=kubernetes
PKI=$DIR/pki
CSR=$DIR/csr
KC=$DIR/kubeconfig-certs
mkdir -p "$PKI/etcd" "$CSR/etcd" "$KC"

# keyEncipherment only for RSA keys, as kubepki (RFC 8813).
if [[ $ALG == rsa ]]; then
    KEY_USAGE="critical,digitalSignature,keyEncipherment"
else
    KEY_USAGE="critical,digitalSignature"
fi

genkey() { # FILE
    if [[ $ALG == rsa ]]; then
        openssl genrsa -out "$1" 2048 2>/dev/null
    else
        openssl ecparam -name prime256v1 -genkey -noout -out "$1"
    fi
}

# ca NAME CN: a self-signed CA, valid 10 years.
ca() {
    local name=$1 cn=$2
    genkey "$PKI/$name.key"
    cat >"$CSR/$name.ext" <<EOF
[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = $KEY_USAGE,keyCertSign
subjectKeyIdentifier = hash
subjectAltName = DNS:$cn
EOF
    openssl req -x509 -new -key "$PKI/$name.key" -subj "/CN=$cn" -days 3650 -sha256 \
        -config "$CSR/$name.ext" -extensions v3_ca -out "$PKI/$name.crt" 2>/dev/null
}

# leaf OUT_BASE CA_BASE SUBJECT EKU [SAN]: key, CSR, and the CA's signature, valid 1 year.
leaf() {
    local out=$1 ca=$2 subj=$3 eku=$4 san=${5:-}
    local name=${out#"$PKI"/}
    name=${name#"$KC"/}
    genkey "$out.key"
    openssl req -new -key "$out.key" -subj "$subj" -out "$CSR/$name.csr"
    {
        echo "basicConstraints = critical,CA:FALSE"
        echo "keyUsage = $KEY_USAGE"
        echo "extendedKeyUsage = $eku"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid"
        if [[ -n $san ]]; then echo "subjectAltName = $san"; fi
    } >"$CSR/$name.ext"
    openssl x509 -req -in "$CSR/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" \
        -days 365 -sha256 -extfile "$CSR/$name.ext" -out "$out.crt" 2>/dev/null
}

ETCD_SANS="DNS:localhost,DNS:$NODE,IP:$ADVERTISE,IP:127.0.0.1,IP:::1"

# Kubernetes CA and the leaves it signs.
ca ca kubernetes
leaf "$PKI/apiserver" ca "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE,IP:$SERVICE_VIP,IP:$ADVERTISE"
leaf "$PKI/apiserver-kubelet-client" ca "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" clientAuth
# Front proxy.
ca front-proxy-ca front-proxy-ca
leaf "$PKI/front-proxy-client" front-proxy-ca "/CN=front-proxy-client" clientAuth
# etcd.
ca etcd/ca etcd-ca
leaf "$PKI/etcd/server" etcd/ca "/CN=$NODE" serverAuth,clientAuth "$ETCD_SANS"
leaf "$PKI/etcd/peer" etcd/ca "/CN=$NODE" serverAuth,clientAuth "$ETCD_SANS"
leaf "$PKI/etcd/healthcheck-client" etcd/ca "/CN=kube-etcd-healthcheck-client" clientAuth
leaf "$PKI/apiserver-etcd-client" etcd/ca "/CN=kube-apiserver-etcd-client" clientAuth

# Service-account signing key pair.
genkey "$PKI/sa.key"
if [[ $ALG == rsa ]]; then
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
else
    openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi

# kubeconfig FILE USER SUBJECT: a client certificate signed by the cluster CA, embedded in a
# kubeconfig with the CA.
kubeconfig() {
    local file=$1 user=$2 subj=$3
    local conf=$DIR/$file.conf
    leaf "$KC/$file" ca "$subj" clientAuth
    kubectl config set-cluster "$CLUSTER" --server="$SERVER" \
        --certificate-authority="$PKI/ca.crt" --embed-certs=true --kubeconfig="$conf" >/dev/null
    kubectl config set-credentials "$user" --client-certificate="$KC/$file.crt" \
        --client-key="$KC/$file.key" --embed-certs=true --kubeconfig="$conf" >/dev/null
    kubectl config set-context "$user@$CLUSTER" --cluster="$CLUSTER" --user="$user" \
        --kubeconfig="$conf" >/dev/null
    kubectl config use-context "$user@$CLUSTER" --kubeconfig="$conf" >/dev/null
}

kubeconfig admin kubernetes-admin "/O=kubeadm:cluster-admins/CN=kubernetes-admin"
kubeconfig super-admin kubernetes-super-admin "/O=system:masters/CN=kubernetes-super-admin"
kubeconfig kubelet "system:node:$NODE" "/O=system:nodes/CN=system:node:$NODE"
kubeconfig controller-manager system:kube-controller-manager "/CN=system:kube-controller-manager"
kubeconfig scheduler system:kube-scheduler "/CN=system:kube-scheduler"
