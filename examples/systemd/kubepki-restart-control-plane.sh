#!/bin/sh
# After a renewal: make the static pods of a kubeadm control plane reread their certificates by
# moving their manifests out and back (the kubelet stops and starts them), one at a time.
set -eu
manifests=/etc/kubernetes/manifests
parked=/etc/kubernetes/manifests.parked
mkdir -p "$parked"
for pod in kube-apiserver kube-controller-manager kube-scheduler etcd; do
    [ -f "$manifests/$pod.yaml" ] || continue
    mv "$manifests/$pod.yaml" "$parked/"
    sleep 20
    mv "$parked/$pod.yaml" "$manifests/"
    sleep 20
done
# The kubelet reads kubelet.conf at start.
systemctl restart kubelet
