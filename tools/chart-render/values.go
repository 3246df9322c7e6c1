package main

// Values as Helm builds them: YAML files decoded the sigs.k8s.io/yaml way (YAML -> JSON ->
// Go, so every number is a float64), user files merged in order, --set applied on top, then
// coalesced with the chart's defaults (a user null deletes a default key).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v2"
)

// yamlToJSON converts one YAML document to JSON like sigs.k8s.io/yaml.YAMLToJSON.
func yamlToJSON(data []byte) ([]byte, error) {
	var obj interface{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, err
	}
	conv, err := jsonable(obj)
	if err != nil {
		return nil, err
	}
	return json.Marshal(conv)
}

func jsonable(v interface{}) (interface{}, error) {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, val := range t {
			var key string
			switch kt := k.(type) {
			case string:
				key = kt
			case int:
				key = strconv.Itoa(kt)
			case int64:
				key = strconv.FormatInt(kt, 10)
			case uint64:
				key = strconv.FormatUint(kt, 10)
			case float64:
				key = strconv.FormatFloat(kt, 'g', -1, 64)
			case bool:
				key = strconv.FormatBool(kt)
			case nil:
				key = "null"
			default:
				return nil, fmt.Errorf("unsupported map key %#v", k)
			}
			c, err := jsonable(val)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, val := range t {
			c, err := jsonable(val)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// yamlUnmarshal decodes YAML into target through JSON, as sigs.k8s.io/yaml.Unmarshal does.
func yamlUnmarshal(data []byte, target interface{}) error {
	j, err := yamlToJSON(data)
	if err != nil {
		return err
	}
	if string(j) == "null" {
		return nil
	}
	return json.NewDecoder(bytes.NewReader(j)).Decode(target)
}

// readValues reads a values document into a map; an empty document is an empty map.
func readValues(data []byte) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	if len(bytes.TrimSpace(data)) == 0 {
		return m, nil
	}
	if err := yamlUnmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// userValues merges -f files (in order) and applies --set flags, like Helm's values.Options.
func userValues(o *options) (map[string]interface{}, error) {
	base := map[string]interface{}{}
	for _, f := range o.valueFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := readValues(data)
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", f, err)
		}
		base = mergeMaps(base, m)
	}
	for _, s := range o.sets {
		var err error
		switch s.kind {
		case "set":
			err = parseSet(s.value, base, func(v string) (interface{}, error) { return typedVal(v), nil })
		case "set-string":
			err = parseSet(s.value, base, func(v string) (interface{}, error) { return v, nil })
		case "set-json":
			// One key=JSON per flag: JSON has commas and braces of its own.
			err = setJSON(s.value, base)
		case "set-file":
			err = parseSet(s.value, base, func(v string) (interface{}, error) {
				data, err := os.ReadFile(filepath.Clean(v))
				return string(data), err
			})
		}
		if err != nil {
			return nil, fmt.Errorf("failed parsing --%s data: %w", s.kind, err)
		}
	}
	return base, nil
}

func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k]; ok {
				if bm, ok := bv.(map[string]interface{}); ok {
					out[k] = mergeMaps(bm, vm)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

// coalesceValues gives user values precedence over chart defaults, like chartutil.CoalesceRoot.
func coalesceValues(user, defaults map[string]interface{}) map[string]interface{} {
	v := deepCopyMap(user)
	coalesceTables(v, deepCopyMap(defaults))
	return v
}

func coalesceTables(dst, src map[string]interface{}) {
	for key, val := range src {
		if dv, ok := dst[key]; ok {
			if dv == nil {
				delete(dst, key)
			} else if dm, ok := dv.(map[string]interface{}); ok {
				if sm, ok := val.(map[string]interface{}); ok {
					coalesceTables(dm, sm)
				} else if val != nil {
					fmt.Fprintf(os.Stderr, "warning: skipped value for %s: Not a table.\n", key)
				}
			} else if _, ok := val.(map[string]interface{}); ok {
				fmt.Fprintf(os.Stderr, "warning: cannot overwrite table with non table for %s (%v)\n", key, val)
			}
		} else {
			dst[key] = val
		}
	}
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	default:
		return v
	}
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

// typedVal infers a --set value's type as Helm's strvals does.
func typedVal(val string) interface{} {
	if strings.EqualFold(val, "true") {
		return true
	}
	if strings.EqualFold(val, "false") {
		return false
	}
	if strings.EqualFold(val, "null") {
		return nil
	}
	if val == "0" {
		return int64(0)
	}
	// A leading zero keeps the value a string (e.g. "0644"), as in Helm.
	if len(val) != 0 && val[0] != '0' {
		if iv, err := strconv.ParseInt(val, 10, 64); err == nil {
			return iv
		}
	}
	return val
}

// parseSet applies "a.b=c,d[0].e=f,g={x,y}" to dest.
func parseSet(s string, dest map[string]interface{}, conv func(string) (interface{}, error)) error {
	for _, pair := range splitUnescaped(s, ',', true) {
		if pair == "" {
			continue
		}
		eq := indexUnescaped(pair, '=')
		if eq < 0 {
			return fmt.Errorf("key %q has no value", pair)
		}
		key, raw := pair[:eq], pair[eq+1:]
		var value interface{}
		if strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}") {
			var list []interface{}
			for _, item := range splitUnescaped(raw[1:len(raw)-1], ',', false) {
				v, err := conv(unescape(item))
				if err != nil {
					return err
				}
				list = append(list, v)
			}
			if list == nil {
				list = []interface{}{}
			}
			value = list
		} else {
			v, err := conv(unescape(raw))
			if err != nil {
				return err
			}
			value = v
		}
		if err := setPath(dest, splitKey(key), value); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

func setJSON(s string, dest map[string]interface{}) error {
	eq := indexUnescaped(s, '=')
	if eq < 0 {
		return fmt.Errorf("key %q has no value", s)
	}
	var value interface{}
	if err := json.Unmarshal([]byte(s[eq+1:]), &value); err != nil {
		return fmt.Errorf("invalid JSON for %s: %w", s[:eq], err)
	}
	return setPath(dest, splitKey(s[:eq]), value)
}

type keyPart struct {
	name  string
	index int // -1: not an index
}

func splitKey(key string) []keyPart {
	var parts []keyPart
	for _, seg := range splitUnescaped(key, '.', false) {
		seg = unescape(seg)
		name := seg
		var idx []int
		for strings.HasSuffix(name, "]") {
			open := strings.LastIndexByte(name, '[')
			if open < 0 {
				break
			}
			n, err := strconv.Atoi(name[open+1 : len(name)-1])
			if err != nil {
				break
			}
			idx = append([]int{n}, idx...)
			name = name[:open]
		}
		if name != "" {
			parts = append(parts, keyPart{name: name, index: -1})
		}
		for _, i := range idx {
			parts = append(parts, keyPart{index: i})
		}
	}
	return parts
}

func setPath(dest map[string]interface{}, parts []keyPart, value interface{}) error {
	if len(parts) == 0 || parts[0].index >= 0 {
		return fmt.Errorf("key must start with a name")
	}
	var set func(container interface{}, i int) (interface{}, error)
	set = func(container interface{}, i int) (interface{}, error) {
		p := parts[i]
		last := i == len(parts)-1
		if p.index < 0 {
			m, ok := container.(map[string]interface{})
			if !ok || m == nil {
				m = map[string]interface{}{}
			}
			if last {
				m[p.name] = value
				return m, nil
			}
			child, err := set(m[p.name], i+1)
			if err != nil {
				return nil, err
			}
			m[p.name] = child
			return m, nil
		}
		if p.index > 65536 {
			return nil, fmt.Errorf("index %d too large", p.index)
		}
		l, _ := container.([]interface{})
		for len(l) <= p.index {
			l = append(l, nil)
		}
		if last {
			l[p.index] = value
			return l, nil
		}
		child, err := set(l[p.index], i+1)
		if err != nil {
			return nil, err
		}
		l[p.index] = child
		return l, nil
	}
	_, err := set(dest, 0)
	return err
}

// splitUnescaped splits on sep outside backslash escapes (and outside {...} when braces).
func splitUnescaped(s string, sep byte, braces bool) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case braces && c == '{':
			depth++
		case braces && c == '}' && depth > 0:
			depth--
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == c {
			return i
		}
	}
	return -1
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
