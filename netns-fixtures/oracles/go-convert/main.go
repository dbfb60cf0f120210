// go-convert: a test oracle for result parsing, version conversion and printing. It runs the
// reference Go libcni as Debian ships it (golang-github-appc-cni-dev) on requests read from stdin,
// so libcni/types/convert-differential.test.ts can compare our converter with Go's byte for byte.
// Written for Weft's tests; built by scripts/build-go-cnitool.sh.
//
// stdin:  one request per line: {"result": <result JSON, kept verbatim>, "from": "0.4.0", "to": "1.0.0"}
//
//	"from": "auto" decodes the result by its own cniVersion (create.CreateFromBytes).
//
// stdout: one answer per line, in order:
//
//	{"ok": "<converted result as plugins print it>", "map": "<1.x only: the same printed through a map>"}
//	{"err": "<error text>"}
//	{"panic": "<what the library panicked with>"}
//
// "ok" is what this library version prints (json.MarshalIndent, no prefix, 4 spaces). "map" is
// given for 1.x results only: the result marshalled, decoded into a map, "dns" deleted when the
// DNS block is empty, then indented again. Newer libcni releases print 1.x results that way; the
// library shipped here predates it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/types"
	_ "github.com/containernetworking/cni/pkg/types/020"
	_ "github.com/containernetworking/cni/pkg/types/040"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
)

type request struct {
	Result json.RawMessage `json:"result"`
	From   string          `json:"from"`
	To     string          `json:"to"`
}

type answer struct {
	Ok    *string `json:"ok,omitempty"`
	Map   *string `json:"map,omitempty"`
	Err   *string `json:"err,omitempty"`
	Panic *string `json:"panic,omitempty"`
}

func str(s string) *string { return &s }

func dnsEmpty(d types.DNS) bool {
	return len(d.Nameservers) == 0 && d.Domain == "" && len(d.Search) == 0 && len(d.Options) == 0
}

// viaMap prints a 1.x result the way newer libcni releases do (see the file comment).
func viaMap(r *types100.Result) (string, error) {
	compact, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	m := map[string]interface{}{}
	if err := json.Unmarshal(compact, &m); err != nil {
		return "", err
	}
	if dnsEmpty(r.DNS) {
		delete(m, "dns")
	}
	out, err := json.MarshalIndent(m, "", "    ")
	return string(out), err
}

func convert(req request) (ans answer) {
	defer func() {
		if p := recover(); p != nil {
			ans = answer{Panic: str(fmt.Sprint(p))}
		}
	}()
	var res types.Result
	var err error
	if req.From == "auto" {
		res, err = create.CreateFromBytes(req.Result)
	} else {
		res, err = create.Create(req.From, req.Result)
	}
	if err != nil {
		return answer{Err: str(err.Error())}
	}
	conv, err := res.GetAsVersion(req.To)
	if err != nil {
		return answer{Err: str(err.Error())}
	}
	printed, err := json.MarshalIndent(conv, "", "    ")
	if err != nil {
		return answer{Err: str(err.Error())}
	}
	ans = answer{Ok: str(string(printed))}
	if r100, ok := conv.(*types100.Result); ok {
		m, err := viaMap(r100)
		if err != nil {
			return answer{Err: str(err.Error())}
		}
		ans.Map = str(m)
	}
	return ans
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		line := in.Bytes()
		if len(line) == 0 {
			continue
		}
		var req request
		var ans answer
		if err := json.Unmarshal(line, &req); err != nil {
			ans = answer{Err: str("bad request: " + err.Error())}
		} else {
			ans = convert(req)
		}
		if err := enc.Encode(ans); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
