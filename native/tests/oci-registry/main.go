// oci-registry: an OCI 1.1 registry for purser's tests (zot stands in the design, but the Go
// module proxy here refuses zot). It is go-containerregistry's pkg/registry with the referrers
// API switched on (`crane registry serve` leaves it off), listening on --address, in memory.
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "address to listen on")
	referrers := flag.Bool("referrers", true, "serve the OCI 1.1 referrers API")
	quiet := flag.Bool("quiet", true, "no request log")
	flag.Parse()

	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatalf("oci-registry: %v", err)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	if *quiet {
		logger = log.New(discard{}, "", 0)
	}
	handler := registry.New(registry.Logger(logger), registry.WithReferrersSupport(*referrers))
	log.Printf("oci-registry: serving on %s", listener.Addr())
	log.Fatal(http.Serve(listener, handler))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
