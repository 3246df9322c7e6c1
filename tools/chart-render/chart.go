package main

// Loading a chart directory into the pieces Helm's engine sees: metadata, default values,
// schema, templates and the remaining files (.Files). Subcharts (charts/) are not supported:
// a chart that has them is refused rather than rendered differently from Helm.

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/Masterminds/semver"
	"gopkg.in/yaml.v2"
)

// Metadata mirrors helm.sh/helm/v3/pkg/chart.Metadata: templates read .Chart.Name, .Chart.Version...
type Metadata struct {
	Name         string            `yaml:"name"`
	Home         string            `yaml:"home"`
	Sources      []string          `yaml:"sources"`
	Version      string            `yaml:"version"`
	Description  string            `yaml:"description"`
	Keywords     []string          `yaml:"keywords"`
	Maintainers  []*Maintainer     `yaml:"maintainers"`
	Icon         string            `yaml:"icon"`
	APIVersion   string            `yaml:"apiVersion"`
	Condition    string            `yaml:"condition"`
	Tags         string            `yaml:"tags"`
	AppVersion   string            `yaml:"appVersion"`
	Deprecated   bool              `yaml:"deprecated"`
	Annotations  map[string]string `yaml:"annotations"`
	KubeVersion  string            `yaml:"kubeVersion"`
	Dependencies []interface{}     `yaml:"dependencies"`
	Type         string            `yaml:"type"`
}

// Maintainer mirrors helm's chart.Maintainer.
type Maintainer struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
}

type chartTemplate struct {
	Name string // relative to the chart root, e.g. templates/daemonset.yaml
	Data string
}

// Chart is a loaded chart directory.
type Chart struct {
	Metadata  *Metadata
	Values    map[string]interface{}
	Schema    *Schema
	Templates []chartTemplate
	Files     Files
}

func loadChart(dir string) (*Chart, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("%s is not a chart directory (packaged charts are not supported)", dir)
	}
	ignore, err := loadHelmignore(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return nil, err
	}
	ch := &Chart{Values: map[string]interface{}{}, Files: Files{}}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignore.ignored(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				entries, _ := os.ReadDir(p)
				if len(entries) > 0 {
					return fmt.Errorf("subcharts (charts/) are not supported by chart-render")
				}
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case rel == "Chart.yaml":
			ch.Metadata = &Metadata{}
			if err := yaml.Unmarshal(data, ch.Metadata); err != nil {
				return fmt.Errorf("cannot load Chart.yaml: %w", err)
			}
		case rel == "values.yaml":
			v, err := readValues(data)
			if err != nil {
				return fmt.Errorf("cannot load values.yaml: %w", err)
			}
			ch.Values = v
		case rel == "values.schema.json":
			s, err := compileSchema(data)
			if err != nil {
				return fmt.Errorf("cannot load values.schema.json: %w", err)
			}
			ch.Schema = s
		case rel == "Chart.lock", rel == "requirements.yaml", rel == "requirements.lock":
			// Dependency bookkeeping, not files.
		case strings.HasPrefix(rel, "templates/"):
			// Helm's default rule: hidden files in templates/ are ignored.
			if strings.HasPrefix(path.Base(rel), ".") {
				return nil
			}
			ch.Templates = append(ch.Templates, chartTemplate{Name: rel, Data: string(data)})
		default:
			ch.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ch.Metadata == nil {
		return nil, fmt.Errorf("%s: Chart.yaml file is missing", dir)
	}
	if err := validateMetadata(ch.Metadata); err != nil {
		return nil, err
	}
	return ch, nil
}

func validateMetadata(m *Metadata) error {
	if m.APIVersion != "v2" {
		return fmt.Errorf("Chart.yaml: apiVersion must be v2 (got %q)", m.APIVersion)
	}
	if m.Name == "" {
		return fmt.Errorf("Chart.yaml: name is required")
	}
	if _, err := semver.StrictNewVersion(m.Version); err != nil {
		return fmt.Errorf("Chart.yaml: version %q is not a valid SemVer 2 version", m.Version)
	}
	if m.Type != "" && m.Type != "application" {
		return fmt.Errorf("Chart.yaml: only application charts are supported (type %q)", m.Type)
	}
	return nil
}

func checkKubeVersion(ch *Chart, caps *Capabilities) error {
	if ch.Metadata.KubeVersion == "" {
		return nil
	}
	c, err := semver.NewConstraint(ch.Metadata.KubeVersion)
	if err != nil {
		return fmt.Errorf("Chart.yaml: invalid kubeVersion %q: %w", ch.Metadata.KubeVersion, err)
	}
	v, err := semver.NewVersion(caps.KubeVersion.Version)
	if err != nil {
		return err
	}
	if !c.Check(v) {
		return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s",
			ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	return nil
}

// helmignore is the subset of .helmignore syntax charts use: globs, "dir/", "!negation", comments.
type helmignore struct {
	rules []ignoreRule
}

type ignoreRule struct {
	pattern string
	negate  bool
	dirOnly bool
}

func loadHelmignore(file string) (*helmignore, error) {
	h := &helmignore{}
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly, line = true, strings.TrimSuffix(line, "/")
		}
		r.pattern = strings.TrimPrefix(line, "/")
		if _, err := path.Match(r.pattern, ""); err != nil {
			return nil, fmt.Errorf(".helmignore: bad pattern %q", line)
		}
		h.rules = append(h.rules, r)
	}
	return h, nil
}

func (h *helmignore) ignored(rel string, isDir bool) bool {
	ignored := false
	for _, r := range h.rules {
		if r.dirOnly && !isDir {
			continue
		}
		var match bool
		if strings.Contains(r.pattern, "/") {
			match, _ = path.Match(r.pattern, rel)
		} else {
			match, _ = path.Match(r.pattern, path.Base(rel))
		}
		if match {
			ignored = !r.negate
		}
	}
	return ignored
}

// Files mirrors Helm's .Files: every chart file outside templates/ and the special files.
type Files map[string][]byte

// Get returns a file's content as a string ("" when absent).
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes returns a file's content.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines returns a file's lines.
func (f Files) Lines(name string) []string {
	if f == nil || f[name] == nil {
		return []string{}
	}
	return strings.Split(string(f[name]), "\n")
}

// Glob returns the files whose path matches pattern ("*" stays within a directory, "**" does not).
func (f Files) Glob(pattern string) Files {
	re, err := globRegexp(pattern)
	out := Files{}
	if err != nil {
		return out
	}
	for name, data := range f {
		if re.MatchString(name) {
			out[name] = data
		}
	}
	return out
}

// AsConfig renders the files as ConfigMap data: base name -> content, as YAML.
func (f Files) AsConfig() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

// AsSecrets renders the files as Secret data: base name -> base64 content, as YAML.
func (f Files) AsSecrets() string {
	if len(f) == 0 {
		return ""
	}
	m := map[string]string{}
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

// globRegexp translates gobwas/glob syntax with '/' as separator, as Helm's Files.Glob uses.
func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	inClass := false
	depth := 0
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case inClass:
			if c == ']' {
				inClass = false
			}
			if c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(string(pattern[i])))
		case c == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			inClass = true
			b.WriteByte('[')
			if i+1 < len(pattern) && pattern[i+1] == '!' {
				b.WriteByte('^')
				i++
			}
		case c == '{':
			depth++
			b.WriteString("(?:")
		case c == '}' && depth > 0:
			depth--
			b.WriteString(")")
		case c == ',' && depth > 0:
			b.WriteString("|")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if inClass || depth != 0 {
		return nil, fmt.Errorf("bad glob %q", pattern)
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
