// Command apiserver runs a real kube-apiserver on top of an embedded etcd, on
// loopback only. It is the project's "envtest": the Go module proxy serves
// k8s.io/kubernetes and etcd, so tests get the genuine API server offline.
//
// Usage: apiserver --data-dir DIR --etcd-port N -- <kube-apiserver flags>
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	fs := flag.NewFlagSet("apiserver", flag.ExitOnError)
	dataDir := fs.String("data-dir", "", "etcd data directory")
	etcdPort := fs.Int("etcd-port", 2379, "etcd client port on 127.0.0.1")
	_ = fs.Parse(os.Args[1:])
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "--data-dir is required")
		os.Exit(2)
	}

	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.LogLevel = "error"
	client, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *etcdPort))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *etcdPort+1))
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, peer.String())
	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "etcd did not become ready in 60s")
		os.Exit(1)
	}

	// Everything after our own flags belongs to kube-apiserver.
	os.Args = append([]string{"kube-apiserver", fmt.Sprintf("--etcd-servers=%s", client.String())}, fs.Args()...)
	code := cli.Run(app.NewAPIServerCommand())
	etcd.Close()
	os.Exit(code)
}
