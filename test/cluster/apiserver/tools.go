//go:build tools

// The node's other components are built from this same module (scripts/build-kube.sh runs
// `go build k8s.io/kubernetes/cmd/<name>`), so its go.sum must cover their dependencies too:
// these imports keep `go mod tidy` from dropping them.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
