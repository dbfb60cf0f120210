// go-cnitool: a test oracle. A cnitool-shaped CLI over the reference Go libcni as Debian ships it
// (golang-github-appc-cni-dev), so tests can compare our libcni/cnitool with Go libcni on the same
// plugins, netns and cache. Written for Weft's tests; built by scripts/build-go-cnitool.sh.
//
// usage: go-cnitool add|check|del <net> <netns>
// env: NETCONFPATH, CNI_PATH, CNI_IFNAME, CNI_ARGS, CAP_ARGS, CNI_CACHE_DIR
package main

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func envOr(k, d string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return d
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: go-cnitool add|check|del <net> <netns>")
		os.Exit(1)
	}
	conf, err := libcni.LoadConfList(envOr("NETCONFPATH", "/etc/cni/net.d"), os.Args[2])
	if err != nil {
		fail(err)
	}
	netns, err := filepath.Abs(os.Args[3])
	if err != nil {
		fail(err)
	}
	sum := sha512.Sum512([]byte(netns))
	rt := &libcni.RuntimeConf{
		ContainerID: "cnitool-" + hex.EncodeToString(sum[:10]),
		NetNS:       netns,
		IfName:      envOr("CNI_IFNAME", "eth0"),
	}
	if a := os.Getenv("CNI_ARGS"); a != "" {
		for _, pair := range strings.Split(a, ";") {
			kv := strings.Split(pair, "=")
			if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
				fail(fmt.Errorf("invalid CNI_ARGS pair %q", pair))
			}
			rt.Args = append(rt.Args, [2]string{kv[0], kv[1]})
		}
	}
	if c := os.Getenv("CAP_ARGS"); c != "" {
		if err := json.Unmarshal([]byte(c), &rt.CapabilityArgs); err != nil {
			fail(err)
		}
	}
	cn := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), envOr("CNI_CACHE_DIR", "/var/lib/cni"), nil)
	ctx := context.Background()
	switch os.Args[1] {
	case "add":
		r, err := cn.AddNetworkList(ctx, conf, rt)
		if err != nil {
			fail(err)
		}
		_ = r.Print()
	case "check":
		err = cn.CheckNetworkList(ctx, conf, rt)
	case "del":
		err = cn.DelNetworkList(ctx, conf, rt)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}
