// Command cri-reset stops and removes every pod sandbox (and its containers) a CRI runtime
// holds, the way the kubelet would: StopPodSandbox runs the CNI DEL (the pod's veth, IP and
// network namespace go away), RemovePodSandbox frees the rest. The test node's teardown runs
// it after stopping the kubelet, which leaves pods running when it exits. Debian ships no
// crictl; this is the part of it the teardown needs.
//
// Usage: cri-reset unix:///path/to/containerd.sock
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	criapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remote "k8s.io/cri-client/pkg"
	"k8s.io/klog/v2"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cri-reset <runtime endpoint>")
		os.Exit(2)
	}
	logger := klog.Background()
	rs, err := remote.NewRemoteRuntimeService(os.Args[1], 30*time.Second, nil, &logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-reset:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sandboxes, err := rs.ListPodSandbox(ctx, &criapi.PodSandboxFilter{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-reset: list pod sandboxes:", err)
		os.Exit(1)
	}
	failed := 0
	for _, s := range sandboxes {
		name := s.Metadata.Namespace + "/" + s.Metadata.Name
		if err := rs.StopPodSandbox(ctx, s.Id); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: stop %s: %v\n", name, err)
			failed++
			continue
		}
		if err := rs.RemovePodSandbox(ctx, s.Id); err != nil {
			fmt.Fprintf(os.Stderr, "cri-reset: remove %s: %v\n", name, err)
			failed++
		}
	}
	fmt.Printf("cri-reset: %d pod sandboxes stopped and removed, %d failed\n", len(sandboxes)-failed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
