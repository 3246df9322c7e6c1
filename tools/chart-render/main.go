// chart-render renders a Helm chart the way `helm template` does, without Helm.
//
// It is built only from Debian's golang-go and golang-github-masterminds-sprig-dev (Go's
// text/template and Sprig, the engine and function library Helm itself uses), plus our own
// implementation of Helm's additions: include, tpl, required, toYaml/fromYaml/toJson/fromJson,
// lookup (always empty, as in `helm template`), .Files, .Capabilities, .Release, .Chart, values
// coalescing with -f/--set, values.schema.json validation, kind ordering and "# Source:" output.
// See README.md beside this file for what differs from Helm.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

type options struct {
	releaseName  string
	chartPath    string
	defaultChart string
	namespace    string
	valueFiles   []string
	sets         []setFlag
	kubeVersion  string
	apiVersions  []string
	showOnly     []string
	strict       bool
	notes        bool
	isUpgrade    bool
}

type setFlag struct {
	kind  string // set, set-string, set-file, set-json
	value string
}

const usage = `Usage: chart-render [NAME] CHART [flags]

Renders CHART like "helm template" and prints multi-document YAML to stdout.

Flags:
  -f, --values FILE        values file (repeatable, or comma-separated); later files win
      --set K=V            set values (repeatable): a.b=c,list={x,y},arr[0].k=v
      --set-string K=V     like --set, values always strings
      --set-json K=JSON    like --set, the value is JSON
      --set-file K=PATH    like --set, the value is the file's content
  -n, --namespace NS       .Release.Namespace (default "default")
      --kube-version V     .Capabilities.KubeVersion (default v1.30.0)
  -a, --api-versions GV    extra API versions for .Capabilities.APIVersions (repeatable),
                           e.g. monitoring.coreos.com/v1
  -s, --show-only PATH     only print this template, e.g. templates/daemonset.yaml (repeatable)
      --strict             fail on references to missing values (helm lint --strict)
      --is-upgrade         set .Release.IsUpgrade instead of .Release.IsInstall
      --notes              print the rendered NOTES.txt instead of the manifests
`

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n\n%s", err, usage)
		os.Exit(2)
	}
	out, err := run(opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.WriteString(out); err != nil {
		os.Exit(1)
	}
}

func parseArgs(args []string) (*options, error) {
	o := &options{namespace: "default", kubeVersion: "v1.30.0"}
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, inline, hasInline := arg, "", false
		if strings.HasPrefix(arg, "--") {
			if eq := strings.IndexByte(arg, '='); eq > 0 {
				name, inline, hasInline = arg[:eq], arg[eq+1:], true
			}
		}
		value := func() (string, error) {
			if hasInline {
				return inline, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var err error
		var v string
		switch name {
		case "-h", "--help":
			fmt.Print(usage)
			os.Exit(0)
		case "-f", "--values":
			if v, err = value(); err == nil {
				o.valueFiles = append(o.valueFiles, splitComma(v)...)
			}
		case "--set", "--set-string", "--set-json", "--set-file":
			if v, err = value(); err == nil {
				o.sets = append(o.sets, setFlag{kind: strings.TrimPrefix(name, "--"), value: v})
			}
		case "-n", "--namespace":
			o.namespace, err = value()
		case "--kube-version":
			o.kubeVersion, err = value()
		case "-a", "--api-versions":
			if v, err = value(); err == nil {
				o.apiVersions = append(o.apiVersions, splitComma(v)...)
			}
		case "-s", "--show-only":
			if v, err = value(); err == nil {
				o.showOnly = append(o.showOnly, v)
			}
		case "--default-chart":
			o.defaultChart, err = value()
		case "--strict":
			o.strict = true
		case "--notes":
			o.notes = true
		case "--is-upgrade":
			o.isUpgrade = true
		default:
			if strings.HasPrefix(arg, "-") && arg != "-" {
				return nil, fmt.Errorf("unknown flag %s", arg)
			}
			positional = append(positional, arg)
		}
		if err != nil {
			return nil, err
		}
	}
	switch len(positional) {
	case 0:
		if o.defaultChart == "" {
			return nil, fmt.Errorf("no chart given")
		}
		o.releaseName, o.chartPath = "release-name", o.defaultChart
	case 1:
		o.releaseName, o.chartPath = "release-name", positional[0]
	case 2:
		o.releaseName, o.chartPath = positional[0], positional[1]
	default:
		return nil, fmt.Errorf("expected [NAME] CHART, got %d arguments", len(positional))
	}
	return o, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func run(o *options) (string, error) {
	ch, err := loadChart(o.chartPath)
	if err != nil {
		return "", err
	}
	caps, err := newCapabilities(o.kubeVersion, o.apiVersions)
	if err != nil {
		return "", err
	}
	if err := checkKubeVersion(ch, caps); err != nil {
		return "", err
	}
	user, err := userValues(o)
	if err != nil {
		return "", err
	}
	values := coalesceValues(user, ch.Values)
	if ch.Schema != nil {
		if errs := ch.Schema.Validate(values); len(errs) > 0 {
			var b strings.Builder
			fmt.Fprintf(&b, "values don't meet the specifications of the schema(s) in the following chart(s):\n%s:\n", ch.Metadata.Name)
			for _, e := range errs {
				fmt.Fprintf(&b, "- %s\n", e)
			}
			return "", fmt.Errorf("%s", b.String())
		}
	}
	top := map[string]interface{}{
		"Chart":        ch.Metadata,
		"Files":        ch.Files,
		"Release":      releaseInfo(o),
		"Capabilities": caps,
		"Values":       values,
		"Subcharts":    map[string]interface{}{},
	}
	rendered, err := renderChart(ch, top, o.strict)
	if err != nil {
		return "", err
	}
	notesName := ch.Metadata.Name + "/templates/NOTES.txt"
	if o.notes {
		return rendered[notesName], nil
	}
	delete(rendered, notesName)
	if len(o.showOnly) > 0 {
		kept := map[string]string{}
		for _, want := range o.showOnly {
			want = filepath.ToSlash(filepath.Clean(want))
			found := false
			for name, content := range rendered {
				if name == want || name == ch.Metadata.Name+"/"+want {
					kept[name] = content
					found = true
				}
			}
			if !found {
				return "", fmt.Errorf("could not find template %s in chart", want)
			}
		}
		rendered = kept
	}
	manifests, hooks, err := sortManifests(rendered)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, m := range append(manifests, hooks...) {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Source, m.Content)
	}
	return b.String(), nil
}

func releaseInfo(o *options) map[string]interface{} {
	return map[string]interface{}{
		"Name":      o.releaseName,
		"Namespace": o.namespace,
		"IsInstall": !o.isUpgrade,
		"IsUpgrade": o.isUpgrade,
		"Revision":  1,
		"Service":   "Helm",
	}
}
