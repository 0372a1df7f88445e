// k8s-validate strict-decodes rendered Kubernetes manifests into their API types.
//
// Usage: k8s-validate FILE... (multi-document YAML, as `helm template` prints it).
//
// Each object is decoded into the Go type of its apiVersion and kind from k8s.io/api
// (core, apps, networking, policy) or the Prometheus Operator's monitoring/v1 API
// (ServiceMonitor, PrometheusRule). Decoding is strict: an unknown field, a field
// with the wrong case, a duplicate key or a value of the wrong type is an error, and
// so is an apiVersion/kind this program does not know (never a silent skip). Then a
// few cross-object checks that the API server would not catch but that break the
// chart silently: selectors that select nothing, named ports that do not exist,
// mounts of volumes that are not declared. Exit status 1 on any problem.
//
// Built once by scripts/ci-setup.sh and run by scripts/check-deploy.sh; its own
// tests are the files under testdata/ (each must fail with the message it names).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest with where it came from.
type object struct {
	where string
	kind  string
	name  string
	value any
}

// newTyped returns an empty value of the API type of apiVersion/kind.
func newTyped(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion %q kind %q: this validator knows no type for it", apiVersion, kind)
}

// decodeStrict decodes one YAML document into its API type.
func decodeStrict(doc []byte) (string, string, any, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return "", "", nil, fmt.Errorf("not valid YAML (or a duplicate key): %w", err)
	}
	var meta struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(js, &meta); err != nil {
		return "", "", nil, fmt.Errorf("no readable apiVersion/kind: %w", err)
	}
	typed, err := newTyped(meta.APIVersion, meta.Kind)
	if err != nil {
		return meta.Kind, meta.Metadata.Name, nil, err
	}
	strict, err := kjson.UnmarshalStrict(js, typed, kjson.DisallowUnknownFields)
	if err != nil {
		return meta.Kind, meta.Metadata.Name, nil, err
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return meta.Kind, meta.Metadata.Name, nil, errors.New(strings.Join(msgs, "; "))
	}
	return meta.Kind, meta.Metadata.Name, typed, nil
}

// isEmpty: a document with nothing but comments and blank lines (helm prints those
// for templates that render nothing).
func isEmpty(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}

// readObjects decodes every document of one file; problems are appended.
func readObjects(path string, problems *[]string) []object {
	data, err := os.ReadFile(path)
	if err != nil {
		*problems = append(*problems, err.Error())
		return nil
	}
	var out []object
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: document %d: %v", path, i, err))
			break
		}
		if isEmpty(doc) {
			continue
		}
		kind, name, value, err := decodeStrict(doc)
		where := fmt.Sprintf("%s: document %d (%s %s)", path, i, kind, name)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", where, err))
			continue
		}
		out = append(out, object{where: where, kind: kind, name: name, value: value})
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-validate FILE...")
		os.Exit(2)
	}
	var problems []string
	total := 0
	for _, path := range os.Args[1:] {
		objects := readObjects(path, &problems)
		total += len(objects)
		problems = append(problems, crossCheck(objects)...)
	}
	if total == 0 && len(problems) == 0 {
		problems = append(problems, "no Kubernetes object found")
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "k8s-validate:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("k8s-validate: %d objects valid\n", total)
}
