// Command configcheck reads a kind cluster config the way `kind create cluster --config`
// does, without Docker: apiVersion and kind first, then a strict decode into kind's own
// v1alpha4 types (an unknown or misspelt field is an error, as it is for kind), then
// kind's defaults. It prints the defaulted config and the kind version it was built
// with as JSON, for tests/unit/test_ci_config.py.
//
// kind's semantic checks (Cluster.Validate) live in an internal package that no other
// module can import; the test checks the port mappings itself.
//
//	go run . ../kind-config.yaml
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

const kindModule = "sigs.k8s.io/kind"

type result struct {
	KindVersion string            `json:"kindVersion"`
	Config      *v1alpha4.Cluster `json:"config"`
}

func load(path string) (*v1alpha4.Cluster, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Kind       string `yaml:"kind"`
		APIVersion string `yaml:"apiVersion"`
	}
	if err := yaml.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("cannot read kind and apiVersion: %w", err)
	}
	if meta.APIVersion != "kind.x-k8s.io/v1alpha4" || meta.Kind != "Cluster" {
		return nil, fmt.Errorf("want kind Cluster of kind.x-k8s.io/v1alpha4, got %q of %q",
			meta.Kind, meta.APIVersion)
	}
	cluster := &v1alpha4.Cluster{}
	decoder := yaml.NewDecoder(bytes.NewReader(raw))
	decoder.KnownFields(true)
	if err := decoder.Decode(cluster); err != nil {
		return nil, err
	}
	v1alpha4.SetDefaultsCluster(cluster)
	return cluster, nil
}

func kindVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == kindModule {
				return dep.Version
			}
		}
	}
	return ""
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: configcheck KIND-CONFIG.yaml")
		os.Exit(2)
	}
	cluster, err := load(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(result{KindVersion: kindVersion(), Config: cluster}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
