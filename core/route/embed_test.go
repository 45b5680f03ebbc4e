package route

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
	"go.yaml.in/yaml/v3"
)

// embedded parses a larger file and returns the node of its top-level
// key key.
func embedded(t *testing.T, src, key string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i+1]
		}
	}
	t.Fatalf("no %s in %s", key, src)
	return nil
}

func TestParseNode(t *testing.T) {
	good := "chains: {}\nroutes:\n" + indent(pipeline, "  ")
	r := ParseNode(&yamlcheck.Report{File: "p.yaml"}, embedded(t, good, "routes"), "routes")
	if r == nil {
		t.Fatal("ParseNode refused good rules")
	}
	whole := mustParse(t, pipeline)
	for _, m := range []*Message{{Connector: "crm", Payload: []byte(`{"type":"customer","amount":5000}`)}, {Headers: map[string]string{"x-test": "1"}}, {}} {
		if a, b := r.Route(m), whole.Route(m); !reflect.DeepEqual(a, b) {
			t.Errorf("embedded rules route %+v as %+v, the file as %+v", m, a, b)
		}
	}

	bad := `other: 1
routes:
  defualt: x
  rules:
    - name: a
      when: {field: {$.amount: {gte: 1}}}
      keys: [k, k]
`
	report := yamlcheck.Report{File: "p.yaml"}
	report.Addf(&yaml.Node{Line: 1}, "other", "a problem of the larger file")
	if r := ParseNode(&report, embedded(t, bad, "routes"), "routes"); r != nil {
		t.Errorf("ParseNode returned rules with problems")
	}
	want := `p.yaml:1: other: a problem of the larger file
p.yaml:3: routes: unknown key "defualt" (did you mean default?)
p.yaml:6: routes.rules[0].when.field.$.amount: unknown operator "gte" (did you mean gt?)
p.yaml:7: routes.rules[0].keys: lists "k" twice`
	if got := report.Err().Error(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// A larger file's earlier problems do not hide this one.
	report = yamlcheck.Report{File: "p.yaml"}
	report.Addf(&yaml.Node{Line: 1}, "other", "a problem of the larger file")
	if r := ParseNode(&report, embedded(t, "routes: {}\n", "routes"), "routes"); r != nil || report.Err().Error() != "p.yaml:1: other: a problem of the larger file\np.yaml:1: routes: routes nothing: give it rules or a default" {
		t.Errorf("empty routes: %v, %v", r, report.Err())
	}
	report = yamlcheck.Report{File: "p.yaml"}
	if r := ParseNode(&report, embedded(t, "routes: [a]\n", "routes"), "routes"); r != nil || report.Err().Error() != "p.yaml:1: routes: must be a mapping, got a list" {
		t.Errorf("a list: %v, %v", r, report.Err())
	}
}

func indent(s, by string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestKeyUses(t *testing.T) {
	src := `routes:
  rules:
    - name: a
      keys: [k1, k2]
    - keys: k3
      name: b
  default: d
`
	got := KeyUses(embedded(t, src, "routes"), "routes")
	want := []KeyUse{
		{Key: "k1", Rule: "a", Path: "routes.rules[0].keys[0]", Line: 4},
		{Key: "k2", Rule: "a", Path: "routes.rules[0].keys[1]", Line: 4},
		{Key: "k3", Rule: "b", Path: "routes.rules[1].keys", Line: 5},
		{Key: "d", Path: "routes.default", Line: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("KeyUses =\n%+v\nwant\n%+v", got, want)
	}
	if got := KeyUses(embedded(t, "routes: [a]\n", "routes"), "routes"); got != nil {
		t.Errorf("KeyUses of a list = %+v", got)
	}
	if got := KeyUses(embedded(t, "routes: {rules: [x, {name: y}]}\n", "routes"), ""); got != nil {
		t.Errorf("KeyUses of malformed rules = %+v", got)
	}
}

func TestCondition(t *testing.T) {
	n := func(s string) json.Number { return json.Number(s) }
	fields := map[string]any{"status": "paid", "amount": n("150.5"), "tags": []any{"vip"}, "f": 1.5, "o": map[string]any{"a": n("1")}}
	tests := []struct {
		when string
		want bool
	}{
		{`{field: {$.status: paid}}`, true},
		{`{field: {$.status: open}}`, false},
		{`{field: {$.amount: {gt: 100, lt: 200}}}`, true},
		{`{field: {$.o.a: 1}}`, true},
		{`{field: {$.tags: {contains: vip}}}`, true},
		{`{field: {$.f: 1.5}}`, false}, // a float64 is no JSON number as decoded
		{`{connector: crm, header: {x-kind: A}}`, true},
		{`{header: {X-Kind: b}}`, false},
		{`{not: {connector: crm}}`, false},
		{`{any: [{connector: web}, {field: {$.missing: {exists: false}}}]}`, true},
	}
	for _, tc := range tests {
		report := yamlcheck.Report{File: "c.yaml"}
		c := ParseCondition(&report, embedded(t, "when: "+tc.when+"\n", "when"), "filter.when")
		if c == nil {
			t.Fatalf("%s: %v", tc.when, report.Err())
		}
		if got := c.Holds("crm", map[string]string{"X-KIND": "A"}, fields); got != tc.want {
			t.Errorf("%s: Holds = %t, want %t", tc.when, got, tc.want)
		}
	}
	c := ParseCondition(&yamlcheck.Report{}, embedded(t, "when: {field: {$.a: {exists: false}}}\n", "when"), "when")
	if !c.Holds("", nil, nil) {
		t.Errorf("nil fields have a field")
	}

	for _, tc := range []struct{ when, want string }{
		{`{feild: {$.a: 1}}`, `c.yaml:1: filter.when: unknown key "feild" (did you mean field?)`},
		{`{}`, `c.yaml:1: filter.when: has no conditions: give it one of connector, header, field, any, not`},
		{`[a]`, `c.yaml:1: filter.when: must be a mapping, got a list`},
		{`{field: {` + conditions(MaxConditions+1) + `}}`, `c.yaml:1: filter.when: has 65 conditions, at most 64`},
		{strings.Repeat("{not: ", MaxDepth) + "{connector: x}" + strings.Repeat("}", MaxDepth), `c.yaml:1: filter.when.not.not.not.not.not.not.not.not: conditions nest 9 deep, at most 8`},
	} {
		report := yamlcheck.Report{File: "c.yaml"}
		if c := ParseCondition(&report, embedded(t, "when: "+tc.when+"\n", "when"), "filter.when"); c != nil {
			t.Errorf("%s: accepted", tc.when)
		}
		if got := fmt.Sprint(report.Err()); got != tc.want {
			t.Errorf("%.40s: got %s, want %s", tc.when, got, tc.want)
		}
	}
}

func conditions(n int) string {
	var c []string
	for i := range n {
		c = append(c, fmt.Sprintf("$.f%d: %d", i, i))
	}
	return strings.Join(c, ", ")
}

func TestExportedPath(t *testing.T) {
	p, why := ParsePath(`$.items[1]["a b"]`)
	if why != "" || p.String() != `$.items[1]["a b"]` {
		t.Fatalf("ParsePath: %v %q", p, why)
	}
	v, ok := p.Lookup(map[string]any{"items": []any{nil, map[string]any{"a b": "x"}}})
	if !ok || v != "x" {
		t.Errorf("Lookup = %v, %t", v, ok)
	}
	if _, ok := p.Lookup(nil); ok {
		t.Errorf("Lookup found something in nil")
	}
	if _, why := ParsePath("a.b"); why != "a path starts with $" {
		t.Errorf("ParsePath(a.b): %q", why)
	}
	for key, want := range map[string]bool{"orders": true, "_x-1": true, "-x": false, "1x": false, "a b": false, strings.Repeat("k", MaxNameLen): true, strings.Repeat("k", MaxNameLen+1): false} {
		if ValidKey(key) != want {
			t.Errorf("ValidKey(%q) = %t", key, !want)
		}
	}
}
