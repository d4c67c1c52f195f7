// yaml-oracle reads YAML the way Helm 4 does and prints what it means, as JSON, so that
// tests/yaml_differential.rs can hold purser's reader (src/yaml.rs) against it.
//
// Helm 4 parses each rendered template with kio.ParseAll (sigs.k8s.io/kustomize/kyaml), which
// reads with go.yaml.in/yaml/v3, and writes what a post-renderer sees with the same library.
// This program decodes with that library, at the version Helm v4.2.4's go.mod selects.
//
// Input: a YAML stream on stdin. Output: one line per document, `{"ok":VALUE}` (object keys
// sorted, as encoding/json writes maps) or `{"err":"MESSAGE"}`; after an error the stream
// cannot be read further, so the error line is the last.
//
// With -0 the input is a sequence of texts, each ended by a NUL byte, and each is read as its
// own stream: one line per text, `{"ok":[DOC, ...]}` (its documents) or `{"err":"MESSAGE"}`.
// One process then checks thousands of documents, each independent of the others' errors.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

func main() {
	nul := flag.Bool("0", false, "read NUL-terminated texts, one output line each")
	flag.Parse()
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "yaml-oracle: reading stdin:", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if !*nul {
		docs, err := decodeAll(in)
		for _, doc := range docs {
			line(out, "ok", doc)
		}
		if err != nil {
			line(out, "err", err.Error())
		}
		return
	}
	for len(in) > 0 {
		end := bytes.IndexByte(in, 0)
		if end < 0 {
			end = len(in)
		}
		text := in[:end]
		in = in[min(end+1, len(in)):]
		docs, err := decodeAll(text)
		if err != nil {
			line(out, "err", err.Error())
		} else {
			line(out, "ok", docs)
		}
	}
}

// decodeAll reads every document of one stream, stopping at the first error.
func decodeAll(text []byte) (docs []any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	decoder := yaml.NewDecoder(bytes.NewReader(text))
	docs = []any{}
	for {
		var node yaml.Node
		err := decoder.Decode(&node)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		timestampsAsText(&node)
		var doc any
		if err := node.Decode(&doc); err != nil {
			return docs, err
		}
		value, err := jsonable(doc)
		if err != nil {
			return docs, err
		}
		docs = append(docs, value)
	}
}

// timestampsAsText keeps untagged timestamps (`2001-01-01`) as the text they are written as:
// yaml.v3 would make them time.Time, but Helm hands the text on (kio keeps nodes) and
// Kubernetes reads them as strings.
func timestampsAsText(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!timestamp" && n.Style&yaml.TaggedStyle == 0 {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		timestampsAsText(c)
	}
}

// jsonable turns what yaml.v3 decoded into values encoding/json writes: maps with
// non-string keys get their keys printed (as sigs.k8s.io/yaml does), NaN and infinities
// become strings (JSON has none).
func jsonable(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			j, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			j, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			var key string
			switch k := k.(type) {
			case nil:
				key = "null"
			case string:
				key = k
			case float64:
				key = floatText(k)
			default:
				key = fmt.Sprint(k)
			}
			out[key] = j
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			j, err := jsonable(x)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return floatText(v), nil
		}
		return v, nil
	default:
		return v, nil
	}
}

func floatText(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	return fmt.Sprint(f)
}

func line(out *bufio.Writer, key string, value any) {
	b, err := json.Marshal(map[string]any{key: value})
	if err != nil {
		b, _ = json.Marshal(map[string]any{"err": "cannot write as JSON: " + err.Error()})
	}
	out.Write(b)
	out.WriteByte('\n')
}
