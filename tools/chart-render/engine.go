package main

// The template engine: Helm's parse/execute order, its late-bound functions (include, tpl,
// required), its YAML/JSON helpers, and the manifest splitting and kind ordering that
// `helm template` applies to the output.

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

const (
	warnStart       = "HELM_ERR_START"
	warnEnd         = "HELM_ERR_END"
	maxIncludeDepth = 1000
)

var warnRegex = regexp.MustCompile(warnStart + `(.*)` + warnEnd)

type engine struct {
	strict bool
}

func renderChart(ch *Chart, top map[string]interface{}, strict bool) (map[string]string, error) {
	e := &engine{strict: strict}
	prefix := ch.Metadata.Name
	sources := map[string]string{}
	for _, t := range ch.Templates {
		sources[path.Join(prefix, t.Name)] = t.Data
	}
	keys := sortTemplates(sources)

	root := template.New("gotpl")
	if strict {
		root.Option("missingkey=error")
	} else {
		// "zero" still prints <no value> for interface maps; removed below, as Helm does.
		root.Option("missingkey=zero")
	}
	root.Funcs(e.funcsFor(root))
	for _, name := range keys {
		if _, err := root.New(name).Parse(sources[name]); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}

	rendered := map[string]string{}
	for _, name := range keys {
		// Partials are only included from other templates.
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		vals := make(map[string]interface{}, len(top)+1)
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{"Name": name, "BasePath": path.Join(prefix, "templates")}
		var buf strings.Builder
		if err := root.ExecuteTemplate(&buf, name, vals); err != nil {
			return nil, cleanupExecError(name, err)
		}
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return rendered, nil
}

// sortTemplates orders templates like Helm: deepest paths first, then reverse lexical order.
func sortTemplates(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca == cb {
			return a > b
		}
		return ca > cb
	})
	return keys
}

// funcsFor returns the function map with include/tpl bound to the template set t.
func (e *engine) funcsFor(t *template.Template) template.FuncMap {
	f := baseFuncMap()
	includeDepth := map[string]int{}
	f["include"] = func(name string, data interface{}) (string, error) {
		if includeDepth[name] > maxIncludeDepth {
			return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
		}
		includeDepth[name]++
		defer func() { includeDepth[name]-- }()
		var buf strings.Builder
		err := t.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	f["tpl"] = func(text string, vals interface{}) (string, error) {
		name := "tpl"
		if m, ok := vals.(map[string]interface{}); ok {
			if tm, ok := m["Template"].(map[string]interface{}); ok {
				if n, ok := tm["Name"].(string); ok {
					name = n
				}
			}
		}
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		clone.Funcs(e.funcsFor(clone))
		if _, err := clone.New(name).Parse(text); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		var buf strings.Builder
		if err := clone.ExecuteTemplate(&buf, name, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	f["required"] = func(warn string, val interface{}) (interface{}, error) {
		if val == nil {
			return val, fmt.Errorf("%s%s%s", warnStart, warn, warnEnd)
		}
		if s, ok := val.(string); ok && s == "" {
			return val, fmt.Errorf("%s%s%s", warnStart, warn, warnEnd)
		}
		return val, nil
	}
	return f
}

// baseFuncMap is Sprig's text function map without env/expandenv, plus Helm's additions.
func baseFuncMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		// helm template has no cluster: lookup always finds nothing.
		"lookup": func(apiVersion, resource, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include":  func(string, interface{}) string { return "not implemented" },
		"tpl":      func(string, interface{}) interface{} { return "not implemented" },
		"required": func(string, interface{}) (interface{}, error) { return "not implemented", nil },
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// toYAML is sigs.k8s.io/yaml.Marshal: JSON first (so struct tags and key order follow
// encoding/json), then yaml.v2, which sorts keys; the trailing newline is trimmed.
func toYAML(v interface{}) string {
	j, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return ""
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

// mustToYAML is toYAML that fails the render instead of returning "".
func mustToYAML(v interface{}) (string, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var obj interface{}
	if err := yaml.Unmarshal(j, &obj); err != nil {
		return "", err
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(out), "\n"), nil
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yamlUnmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yamlUnmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func cleanupParseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func cleanupExecError(name string, err error) error {
	if _, ok := err.(template.ExecError); !ok {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}

// Manifest is one YAML document of the output.
type Manifest struct {
	Source  string
	Content string
	Kind    string
}

// installOrder is Helm 3.12's releaseutil.InstallOrder.
var installOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
	"PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
	"ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList",
	"RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController",
	"ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
	"IngressClass", "Ingress", "APIService",
}

var docSeparator = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

// sortManifests splits every rendered file into documents (files in lexical order, documents
// in file order), separates hooks, and stable-sorts each list by kind like Helm.
func sortManifests(rendered map[string]string) (manifests, hooks []Manifest, err error) {
	for _, name := range sortedKeys(rendered) {
		content := rendered[name]
		if strings.TrimSpace(content) == "" {
			continue
		}
		for _, doc := range docSeparator.Split(strings.TrimSpace(content), -1) {
			if doc == "" {
				continue
			}
			doc = strings.TrimSpace(doc)
			var head struct {
				Kind     string `json:"kind"`
				Metadata *struct {
					Annotations map[string]string `json:"annotations"`
				} `json:"metadata"`
			}
			if err := yamlUnmarshal([]byte(doc), &head); err != nil {
				return nil, nil, fmt.Errorf("YAML parse error on %s: %w", name, err)
			}
			m := Manifest{Source: name, Content: doc, Kind: head.Kind}
			if head.Metadata != nil && head.Metadata.Annotations["helm.sh/hook"] != "" {
				hooks = append(hooks, m)
			} else {
				manifests = append(manifests, m)
			}
		}
	}
	order := map[string]int{}
	for i, k := range installOrder {
		order[k] = i
	}
	byKind := func(list []Manifest) {
		sort.SliceStable(list, func(i, j int) bool {
			a, aok := order[list[i].Kind]
			b, bok := order[list[j].Kind]
			switch {
			case !aok && !bok:
				return list[i].Kind < list[j].Kind
			case !aok:
				return false
			case !bok:
				return true
			}
			return a < b
		})
	}
	byKind(manifests)
	byKind(hooks)
	return manifests, hooks, nil
}
