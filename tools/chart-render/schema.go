package main

// values.schema.json validation, as Helm does before rendering (Helm uses gojsonschema,
// draft 7). This implements the draft-7 keywords charts use; a schema with any other keyword
// is refused at load time, so nothing in a schema is silently skipped.

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Schema is a compiled values schema.
type Schema struct {
	root map[string]interface{}
	res  map[string]*regexp.Regexp
}

var annotationKeywords = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"default": true, "examples": true, "format": true, "readOnly": true, "writeOnly": true,
	"definitions": true, "$defs": true, "contentMediaType": true, "contentEncoding": true,
}

var assertionKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true, "properties": true,
	"patternProperties": true, "additionalProperties": true, "required": true,
	"minProperties": true, "maxProperties": true, "propertyNames": true, "items": true,
	"additionalItems": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"contains": true, "minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "multipleOf": true, "minLength": true, "maxLength": true,
	"pattern": true, "allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true,
	"then": true, "else": true, "dependencies": true,
}

func compileSchema(data []byte) (*Schema, error) {
	var root map[string]interface{}
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, err
	}
	s := &Schema{root: root, res: map[string]*regexp.Regexp{}}
	if err := s.check(root, "#"); err != nil {
		return nil, err
	}
	return s, nil
}

// check walks the schema once: unknown keywords and bad regexps are load errors.
func (s *Schema) check(node interface{}, at string) error {
	switch n := node.(type) {
	case bool:
		return nil
	case map[string]interface{}:
		for k, v := range n {
			if !annotationKeywords[k] && !assertionKeywords[k] {
				return fmt.Errorf("unsupported schema keyword %q at %s", k, at)
			}
			switch k {
			case "properties", "patternProperties", "definitions", "$defs", "dependencies":
				m, ok := v.(map[string]interface{})
				if !ok {
					return fmt.Errorf("%s/%s must be an object", at, k)
				}
				for name, sub := range m {
					if k == "patternProperties" {
						if err := s.compileRe(name, at); err != nil {
							return err
						}
					}
					if _, isList := sub.([]interface{}); k == "dependencies" && isList {
						continue
					}
					if err := s.check(sub, at+"/"+k+"/"+name); err != nil {
						return err
					}
				}
			case "additionalProperties", "propertyNames", "additionalItems", "contains", "not", "if", "then", "else":
				if err := s.check(v, at+"/"+k); err != nil {
					return err
				}
			case "items":
				if list, ok := v.([]interface{}); ok {
					for i, sub := range list {
						if err := s.check(sub, fmt.Sprintf("%s/items/%d", at, i)); err != nil {
							return err
						}
					}
				} else if err := s.check(v, at+"/items"); err != nil {
					return err
				}
			case "allOf", "anyOf", "oneOf":
				list, ok := v.([]interface{})
				if !ok {
					return fmt.Errorf("%s/%s must be an array", at, k)
				}
				for i, sub := range list {
					if err := s.check(sub, fmt.Sprintf("%s/%s/%d", at, k, i)); err != nil {
						return err
					}
				}
			case "pattern":
				p, ok := v.(string)
				if !ok {
					return fmt.Errorf("%s/pattern must be a string", at)
				}
				if err := s.compileRe(p, at); err != nil {
					return err
				}
			case "$ref":
				ref, ok := v.(string)
				if !ok {
					return fmt.Errorf("%s/$ref must be a string", at)
				}
				if _, err := s.resolve(ref); err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
			}
		}
		return nil
	default:
		return fmt.Errorf("schema at %s must be an object or a boolean", at)
	}
}

func (s *Schema) compileRe(p, at string) error {
	if _, ok := s.res[p]; ok {
		return nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return fmt.Errorf("bad pattern %q at %s: %w", p, at, err)
	}
	s.res[p] = re
	return nil
}

func (s *Schema) resolve(ref string) (interface{}, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("only local $ref are supported (got %q)", ref)
	}
	var node interface{} = s.root
	for _, part := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(ref, "#"), "/"), "/") {
		if part == "" {
			continue
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("unresolvable $ref %q", ref)
		}
		if node, ok = m[part]; !ok {
			return nil, fmt.Errorf("unresolvable $ref %q", ref)
		}
	}
	return node, nil
}

// Validate returns one message per violation, "field: description", sorted.
func (s *Schema) Validate(values map[string]interface{}) []string {
	// Validate the JSON form, as Helm does (int64 from --set and float64 from files alike).
	j, err := json.Marshal(values)
	if err != nil {
		return []string{err.Error()}
	}
	var doc interface{}
	if err := json.Unmarshal(j, &doc); err != nil {
		return []string{err.Error()}
	}
	var errs []string
	s.validate(s.root, doc, "(root)", &errs)
	sort.Strings(errs)
	return dedupe(errs)
}

func dedupe(in []string) []string {
	var out []string
	for i, e := range in {
		if i == 0 || in[i-1] != e {
			out = append(out, e)
		}
	}
	return out
}

func field(parent, name string) string {
	if parent == "(root)" {
		return name
	}
	return parent + "." + name
}

func typeOf(v interface{}) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if t == math.Trunc(t) && !math.IsInf(t, 0) {
			return "integer"
		}
		return "number"
	case []interface{}:
		return "array"
	case map[string]interface{}:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func typeMatches(want, got string) bool {
	return want == got || (want == "number" && got == "integer")
}

func (s *Schema) validate(node interface{}, v interface{}, at string, errs *[]string) {
	add := func(format string, args ...interface{}) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	sch, ok := node.(map[string]interface{})
	if !ok {
		if b, isBool := node.(bool); isBool && !b {
			add("False always fails validation")
		}
		return
	}
	if ref, ok := sch["$ref"].(string); ok {
		target, _ := s.resolve(ref)
		s.validate(target, v, at, errs)
		// Draft 7: siblings of $ref are ignored.
		return
	}
	if t, ok := sch["type"]; ok {
		var wants []string
		switch tt := t.(type) {
		case string:
			wants = []string{tt}
		case []interface{}:
			for _, x := range tt {
				wants = append(wants, fmt.Sprint(x))
			}
		}
		got := typeOf(v)
		matched := false
		for _, w := range wants {
			if typeMatches(w, got) {
				matched = true
			}
		}
		if !matched {
			add("Invalid type. Expected: %s, given: %s", strings.Join(wants, " or "), got)
			return
		}
	}
	if enum, ok := sch["enum"].([]interface{}); ok {
		found := false
		var opts []string
		for _, e := range enum {
			if reflect.DeepEqual(e, v) {
				found = true
			}
			b, _ := json.Marshal(e)
			opts = append(opts, string(b))
		}
		if !found {
			add("%s must be one of the following: %s", at, strings.Join(opts, ", "))
		}
	}
	if c, ok := sch["const"]; ok && !reflect.DeepEqual(c, v) {
		b, _ := json.Marshal(c)
		add("%s does not match: %s", at, b)
	}
	switch val := v.(type) {
	case map[string]interface{}:
		s.validateObject(sch, val, at, errs)
	case []interface{}:
		s.validateArray(sch, val, at, errs)
	case string:
		n := float64(utf8.RuneCountInString(val))
		if m, ok := sch["minLength"].(float64); ok && n < m {
			add("String length must be greater than or equal to %v", m)
		}
		if m, ok := sch["maxLength"].(float64); ok && n > m {
			add("String length must be less than or equal to %v", m)
		}
		if p, ok := sch["pattern"].(string); ok && !s.res[p].MatchString(val) {
			add("Does not match pattern '%s'", p)
		}
	case float64:
		if m, ok := sch["minimum"].(float64); ok && val < m {
			add("Must be greater than or equal to %v", m)
		}
		if m, ok := sch["maximum"].(float64); ok && val > m {
			add("Must be less than or equal to %v", m)
		}
		if m, ok := sch["exclusiveMinimum"].(float64); ok && val <= m {
			add("Must be greater than %v", m)
		}
		if m, ok := sch["exclusiveMaximum"].(float64); ok && val >= m {
			add("Must be less than %v", m)
		}
		if m, ok := sch["multipleOf"].(float64); ok && m > 0 && math.Abs(math.Remainder(val, m)) > 1e-9 {
			add("Must be a multiple of %v", m)
		}
	}
	if list, ok := sch["allOf"].([]interface{}); ok {
		for _, sub := range list {
			s.validate(sub, v, at, errs)
		}
	}
	if list, ok := sch["anyOf"].([]interface{}); ok {
		passed := false
		for _, sub := range list {
			var e []string
			s.validate(sub, v, at, &e)
			if len(e) == 0 {
				passed = true
				break
			}
		}
		if !passed {
			add("Must validate at least one schema (anyOf)")
		}
	}
	if list, ok := sch["oneOf"].([]interface{}); ok {
		n := 0
		for _, sub := range list {
			var e []string
			s.validate(sub, v, at, &e)
			if len(e) == 0 {
				n++
			}
		}
		if n != 1 {
			add("Must validate one and only one schema (oneOf)")
		}
	}
	if sub, ok := sch["not"]; ok {
		var e []string
		s.validate(sub, v, at, &e)
		if len(e) == 0 {
			add("Must not validate the schema (not)")
		}
	}
	if cond, ok := sch["if"]; ok {
		var e []string
		s.validate(cond, v, at, &e)
		if len(e) == 0 {
			if then, ok := sch["then"]; ok {
				s.validate(then, v, at, errs)
			}
		} else if els, ok := sch["else"]; ok {
			s.validate(els, v, at, errs)
		}
	}
}

func (s *Schema) validateObject(sch map[string]interface{}, val map[string]interface{}, at string, errs *[]string) {
	add := func(format string, args ...interface{}) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	if req, ok := sch["required"].([]interface{}); ok {
		for _, r := range req {
			name := fmt.Sprint(r)
			if _, present := val[name]; !present {
				add("%s is required", name)
			}
		}
	}
	if m, ok := sch["minProperties"].(float64); ok && float64(len(val)) < m {
		add("Must have at least %v properties", m)
	}
	if m, ok := sch["maxProperties"].(float64); ok && float64(len(val)) > m {
		add("Must have at most %v properties", m)
	}
	props, _ := sch["properties"].(map[string]interface{})
	patterns, _ := sch["patternProperties"].(map[string]interface{})
	for _, k := range sortedAnyKeys(val) {
		child := val[k]
		matched := false
		if sub, ok := props[k]; ok {
			matched = true
			s.validate(sub, child, field(at, k), errs)
		}
		for p, sub := range patterns {
			if s.res[p].MatchString(k) {
				matched = true
				s.validate(sub, child, field(at, k), errs)
			}
		}
		if pn, ok := sch["propertyNames"]; ok {
			s.validate(pn, k, field(at, k), errs)
		}
		if !matched {
			if ap, ok := sch["additionalProperties"]; ok {
				if b, isBool := ap.(bool); isBool {
					if !b {
						add("Additional property %s is not allowed", k)
					}
				} else {
					s.validate(ap, child, field(at, k), errs)
				}
			}
		}
	}
	if deps, ok := sch["dependencies"].(map[string]interface{}); ok {
		for k, dep := range deps {
			if _, present := val[k]; !present {
				continue
			}
			if list, isList := dep.([]interface{}); isList {
				for _, r := range list {
					if _, present := val[fmt.Sprint(r)]; !present {
						add("Has a dependency on %s", r)
					}
				}
			} else {
				s.validate(dep, val, at, errs)
			}
		}
	}
}

func (s *Schema) validateArray(sch map[string]interface{}, val []interface{}, at string, errs *[]string) {
	add := func(format string, args ...interface{}) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	if m, ok := sch["minItems"].(float64); ok && float64(len(val)) < m {
		add("Array must have at least %v items", m)
	}
	if m, ok := sch["maxItems"].(float64); ok && float64(len(val)) > m {
		add("Array must have at most %v items", m)
	}
	if u, ok := sch["uniqueItems"].(bool); ok && u {
		for i := range val {
			for j := i + 1; j < len(val); j++ {
				if reflect.DeepEqual(val[i], val[j]) {
					add("array items[%d,%d] must be unique", i, j)
				}
			}
		}
	}
	switch items := sch["items"].(type) {
	case []interface{}:
		for i, item := range val {
			if i < len(items) {
				s.validate(items[i], item, fmt.Sprintf("%s.%d", at, i), errs)
			} else if ai, ok := sch["additionalItems"]; ok {
				s.validate(ai, item, fmt.Sprintf("%s.%d", at, i), errs)
			}
		}
	case nil:
	default:
		for i, item := range val {
			s.validate(items, item, fmt.Sprintf("%s.%d", at, i), errs)
		}
	}
	if c, ok := sch["contains"]; ok {
		found := false
		for _, item := range val {
			var e []string
			s.validate(c, item, at, &e)
			if len(e) == 0 {
				found = true
				break
			}
		}
		if !found {
			add("At least one of the items must match (contains)")
		}
	}
}

func sortedAnyKeys(m map[string]interface{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
