// trivy-db builds a tiny, offline Trivy vulnerability database from YAML fixtures, the way
// Trivy's own integration tests do (github.com/aquasecurity/bolt-fixtures):
//
//	trivy-db FIXTURES_DIR CACHE_DIR
//
// Every *.yaml / *.yml file under FIXTURES_DIR (sorted by path) is loaded into a fresh bbolt
// database CACHE_DIR/db/trivy.db, and CACHE_DIR/db/metadata.json is written with schema
// version 2, UpdatedAt and DownloadedAt now and NextUpdate ten years on, so that
// `trivy --cache-dir CACHE_DIR --skip-db-update` (and --skip-java-db-update) scans offline.
//
// A fixture file is a list of buckets; a bucket holds pairs, each a nested bucket or a key
// with a value (a string is stored as is, anything else as JSON):
//
//	# native/tests/fixtures/trivy-db/alpine.yaml
//	- bucket: alpine 3.19
//	  pairs:
//	    - bucket: openssl
//	      pairs:
//	        - key: CVE-2099-0001
//	          value:
//	            FixedVersion: 3.1.4-r5
//
// Unknown fields, a pair that is neither a bucket nor a key, or both, are errors naming the
// file and the bucket path.
package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	yaml "github.com/goccy/go-yaml"
)

// schemaVersion is trivy-db's schema version (github.com/aquasecurity/trivy-db/pkg/db.SchemaVersion),
// the one Trivy 0.76 reads; a DB of another version is refused under --skip-db-update.
const schemaVersion = 2

type metadata struct {
	Version      int
	NextUpdate   time.Time
	UpdatedAt    time.Time
	DownloadedAt time.Time
}

func main() {
	if len(os.Args) != 3 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: trivy-db FIXTURES_DIR CACHE_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "trivy-db: %v\n", err)
		os.Exit(1)
	}
}

func run(fixturesDir, cacheDir string) error {
	files, err := fixtureFiles(fixturesDir)
	if err != nil {
		return err
	}
	for _, file := range files {
		if err := check(file); err != nil {
			return err
		}
	}

	dbDir := filepath.Join(cacheDir, "db")
	if err := os.MkdirAll(dbDir, 0o755); err != nil {
		return err
	}
	dbPath := filepath.Join(dbDir, "trivy.db")
	// A fresh database every time: nothing of an earlier run (or a real Trivy DB) is kept.
	for _, stale := range []string{dbPath, filepath.Join(dbDir, "metadata.json")} {
		if err := os.Remove(stale); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	// One loader a file, so that a failure names its file.
	for _, file := range files {
		loader, err := fixtures.New(dbPath, []string{file})
		if err != nil {
			return fmt.Errorf("opening %s: %w", dbPath, err)
		}
		err = loader.Load()
		if cerr := loader.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: loading into %s: %w", file, dbPath, err)
		}
	}

	now := time.Now().UTC().Truncate(time.Second)
	meta, err := json.Marshal(metadata{
		Version:      schemaVersion,
		NextUpdate:   now.AddDate(10, 0, 0),
		UpdatedAt:    now,
		DownloadedAt: now,
	})
	if err != nil {
		return err
	}
	metaPath := filepath.Join(dbDir, "metadata.json")
	if err := os.WriteFile(metaPath+".tmp", meta, 0o644); err != nil {
		return err
	}
	if err := os.Rename(metaPath+".tmp", metaPath); err != nil {
		return err
	}
	fmt.Printf("trivy-db: %s from %d fixture file(s) under %s\n", dbPath, len(files), fixturesDir)
	return nil
}

func fixtureFiles(dir string) ([]string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("fixtures: %s is not a directory", dir)
	}
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fixtures: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("fixtures: no .yaml or .yml file under %s", dir)
	}
	sort.Strings(files)
	return files, nil
}

// check reads a fixture file strictly (what bolt-fixtures would silently skip or store as null
// is an error here) and checks its shape.
func check(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var top []fixtures.Fixture
	if err := yaml.UnmarshalWithOptions(data, &top, yaml.DisallowUnknownField(), yaml.DisallowDuplicateKey()); err != nil {
		return fmt.Errorf("%s: not a list of bolt-fixtures buckets:\n%v", file, err)
	}
	if len(top) == 0 {
		return fmt.Errorf("%s: no buckets", file)
	}
	for i, f := range top {
		if f.Bucket == "" {
			return fmt.Errorf("%s: top-level entry %d: no `bucket` name (the top level holds only buckets)", file, i+1)
		}
		if err := checkBucket(f, f.Bucket); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	}
	return nil
}

func checkBucket(f fixtures.Fixture, path string) error {
	if f.Key != "" || f.Value != nil {
		return fmt.Errorf("bucket %q: has a `key` or `value` too (a pair is either a bucket or a key)", path)
	}
	for i, p := range f.Pairs {
		switch {
		case p.Bucket != "":
			if err := checkBucket(p, path+" / "+p.Bucket); err != nil {
				return err
			}
		case p.Key == "":
			return fmt.Errorf("bucket %q: pair %d has neither `bucket` nor `key`", path, i+1)
		case len(p.Pairs) != 0:
			return fmt.Errorf("bucket %q: key %q has `pairs` (only buckets do)", path, p.Key)
		case p.Value == nil:
			return fmt.Errorf("bucket %q: key %q has no `value`", path, p.Key)
		}
	}
	return nil
}
