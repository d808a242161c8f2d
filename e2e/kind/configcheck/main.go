// Command configcheck reads the files of `make e2e-kind` the way the tools that use them
// would, without Docker or a cluster, and refuses what they would refuse.
//
//	configcheck kind ../kind-config.yaml
//
// reads a kind cluster config as `kind create cluster --config` does: apiVersion and kind
// first, then a strict decode into kind's own v1alpha4 types (an unknown or misspelt field
// is an error, as it is for kind), then kind's defaults. It prints the defaulted config and
// the kind version it was built with as JSON. kind's semantic checks (Cluster.Validate)
// live in an internal package no other module can import; the test checks what it needs.
//
//	configcheck objects FILE...
//
// decodes every YAML document of the files strictly into the Kubernetes type its
// apiVersion and kind name (the typed client's scheme, with unknown and duplicate fields
// refused, as `kubectl apply`'s strict field validation would), and prints the kinds it
// checked and those it has no type for, as JSON.
//
// Both are used by tests/unit/test_ci_config.py.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

const kindModule = "sigs.k8s.io/kind"

func loadKindConfig(path string) (*v1alpha4.Cluster, error) {
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

// The API groups the e2e manifests use; other kinds are reported, not guessed at.
func newDecoder() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, rbacv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(), nil
}

type objectsResult struct {
	Checked   []string `json:"checked"`
	Unchecked []string `json:"unchecked"`
}

func checkObjects(paths []string) (*objectsResult, error) {
	decoder, err := newDecoder()
	if err != nil {
		return nil, err
	}
	result := &objectsResult{Checked: []string{}, Unchecked: []string{}}
	for _, path := range paths {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		reader := k8syaml.NewYAMLReader(bufio.NewReader(file))
		for index := 0; ; index++ {
			doc, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				file.Close()
				return nil, fmt.Errorf("%s: document %d: %w", path, index, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			_, gvk, err := decoder.Decode(doc, nil, nil)
			switch {
			case runtime.IsNotRegisteredError(err):
				var meta metav1.TypeMeta
				if err := k8syaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
					file.Close()
					return nil, fmt.Errorf("%s: document %d has no kind", path, index)
				}
				result.Unchecked = append(result.Unchecked, meta.Kind)
			case err != nil:
				file.Close()
				return nil, fmt.Errorf("%s: document %d: %w", path, index, err)
			default:
				result.Checked = append(result.Checked, gvk.Kind)
			}
		}
		file.Close()
	}
	return result, nil
}

func run(args []string) (any, error) {
	switch {
	case len(args) == 2 && args[0] == "kind":
		cluster, err := loadKindConfig(args[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", args[1], err)
		}
		return map[string]any{"kindVersion": kindVersion(), "config": cluster}, nil
	case len(args) >= 2 && args[0] == "objects":
		return checkObjects(args[1:])
	}
	return nil, errors.New("usage: configcheck kind KIND-CONFIG | configcheck objects FILE...")
}

func main() {
	result, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
