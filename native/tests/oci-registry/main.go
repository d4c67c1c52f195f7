// oci-registry: an OCI 1.1 registry for purser's tests (zot stands in the design, but the Go
// module proxy here refuses zot). It is go-containerregistry's pkg/registry with the referrers
// API switched on (`crane registry serve` leaves it off), listening on --address. Manifests live
// in memory; blobs too, or on disk under -blobs-dir (so a 1 GiB layer does not sit in memory:
// only monolithic uploads stream to disk, PATCHed chunks are still gathered in memory).
//
// Two fixes over pkg/registry v0.22.1, so it answers as OCI 1.1 registries (zot, distribution 3)
// do (with -referrers):
//   - a manifest PUT with a `subject` answers with the `OCI-Subject` header (a client that does
//     not see it must push the referrers fallback tag instead);
//   - the referrers list gives each referrer's `artifactType` (the manifest's own, else its
//     config media type; pkg/registry always gives the config media type) and honours the
//     `artifactType` filter (with `OCI-Filters-Applied`).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	address := flag.String("address", "127.0.0.1:0", "address to listen on")
	referrers := flag.Bool("referrers", true, "serve the OCI 1.1 referrers API")
	blobsDir := flag.String("blobs-dir", "", "keep blobs in this folder instead of memory")
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
	options := []registry.Option{registry.Logger(logger), registry.WithReferrersSupport(*referrers)}
	if *blobsDir != "" {
		if err := os.MkdirAll(*blobsDir, 0o755); err != nil {
			log.Fatalf("oci-registry: %v", err)
		}
		options = append(options, registry.WithBlobHandler(registry.NewDiskBlobHandler(*blobsDir)))
	}
	var handler http.Handler = registry.New(options...)
	if *referrers {
		handler = oci11{inner: handler}
	}
	log.Printf("oci-registry: serving on %s", listener.Addr())
	log.Fatal(http.Serve(listener, handler))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// oci11 wraps pkg/registry with the OCI-Subject header and spec-conformant referrers lists.
type oci11 struct{ inner http.Handler }

func (h oci11) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	elems := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	n := len(elems)
	switch {
	case r.Method == http.MethodPut && n >= 4 && elems[0] == "v2" && elems[n-2] == "manifests":
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			Subject *struct {
				Digest string `json:"digest"`
			} `json:"subject"`
		}
		if json.Unmarshal(body, &m) == nil && m.Subject != nil && m.Subject.Digest != "" {
			h.inner.ServeHTTP(&subjectWriter{ResponseWriter: w, subject: m.Subject.Digest}, r)
			return
		}
	case r.Method == http.MethodGet && n >= 4 && elems[0] == "v2" && elems[n-2] == "referrers":
		h.referrers(w, r, strings.Join(elems[1:n-2], "/"))
		return
	}
	h.inner.ServeHTTP(w, r)
}

// subjectWriter adds `OCI-Subject` to a successful manifest PUT.
type subjectWriter struct {
	http.ResponseWriter
	subject string
}

func (s *subjectWriter) WriteHeader(status int) {
	if status == http.StatusCreated {
		s.Header().Set("OCI-Subject", s.subject)
	}
	s.ResponseWriter.WriteHeader(status)
}

func (h oci11) referrers(w http.ResponseWriter, r *http.Request, repo string) {
	rec := httptest.NewRecorder()
	inner := r.Clone(r.Context())
	inner.URL.RawQuery = ""
	h.inner.ServeHTTP(rec, inner)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	var index map[string]json.RawMessage
	var list []map[string]any
	if json.Unmarshal(rec.Body.Bytes(), &index) != nil || json.Unmarshal(index["manifests"], &list) != nil {
		copyResponse(w, rec)
		return
	}
	filter := r.URL.Query().Get("artifactType")
	kept := []map[string]any{}
	for _, desc := range list {
		digest, _ := desc["digest"].(string)
		if t := h.artifactType(r, repo, digest); t != "" {
			desc["artifactType"] = t
		}
		if filter != "" && desc["artifactType"] != filter {
			continue
		}
		kept = append(kept, desc)
	}
	out, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     kept,
	})
	w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	if filter != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// artifactType of a stored manifest: its `artifactType`, else "" (the config media type
// pkg/registry already put in the list stays).
func (h oci11) artifactType(r *http.Request, repo, digest string) string {
	get, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v2/"+repo+"/manifests/"+digest, nil)
	if err != nil {
		return ""
	}
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, get)
	if rec.Code != http.StatusOK {
		return ""
	}
	var m struct {
		ArtifactType string `json:"artifactType"`
	}
	json.Unmarshal(rec.Body.Bytes(), &m)
	return m.ArtifactType
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}
