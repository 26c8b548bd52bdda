// A registry with the OCI 1.1 referrers API, for the tests: go-containerregistry's
// in-memory registry with WithReferrersSupport(true), which `crane registry serve`
// does not enable. It listens on 127.0.0.1:<port> (0: any free port) and prints the
// address it took on its first line, so the fixture knows where to connect.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	port := flag.Int("port", 0, "port to listen on, on 127.0.0.1 (0: any free one)")
	flag.Parse()
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(listener.Addr().String())
	os.Stdout.Sync()
	handler := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(os.Stderr, "", 0)))
	log.Fatal(http.Serve(listener, handler))
}
