package route

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/yamlcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// invalidRules are rules files Parse must reject;
// testdata/invalid-rules.golden holds the exact messages.
var invalidRules = []struct{ name, file string }{
	{"invalid yaml", "rules: [\n"},
	{"empty file", ""},
	{"routes nothing", "rules: []\n"},
	{"not a mapping", "- name: a\n"},
	{"misspelt top key", "defualt: x\nrules: []\n"},
	{"misspelt rule keys", `rules:
  - name: a
    wen: {connector: crm}
    key: [a]
`},
	{"unknown operator", `rules:
  - name: a
    when:
      field:
        $.amount: {gte: 100}
        $.kind: {prefx: a}
    keys: a
`},
	{"unknown condition", `rules:
  - name: a
    when:
      headers: {X-Kind: a}
      feild: {$.a: 1}
    keys: a
`},
	{"bad paths", `rules:
  - name: a
    when:
      field:
        type: customer
        $.items[x]: 1
        $: 1
        $.a..b: 1
    keys: a
`},
	{"duplicate rule names", `rules:
  - name: a
    keys: x
  - name: b
    keys: x
  - name: a
    keys: y
`},
	{"bad names and keys", `default: "no good"
rules:
  - name: 1st
    keys: [ok, "-bad", ok]
  - name: b
    keys: []
`},
	{"missing keys", `rules:
  - name: a
    when: {connector: crm}
  - keys: x
`},
	{"operand kinds", `rules:
  - name: a
    when:
      field:
        $.a: {gt: true}
        $.b: {prefix: 1}
        $.c: {exists: yes}
        $.d: {in: a}
        $.e: {eq: [1]}
        $.f: {eq: .nan}
        $.g: [a, b]
        $.h: {}
    keys: a
`},
	{"headers", `rules:
  - name: a
    when:
      header:
        X-Kind: a
        x-kind: b
        "bad name": c
        X-Empty:
        X-List: []
    keys: a
`},
	{"empty conditions", `rules:
  - name: a
    when: {}
    keys: a
  - name: b
    when: {any: [], not: {}}
    keys: b
  - name: c
    when: {connector: [], field: {}}
    keys: c
`},
	{"too deep", `rules:
  - name: a
    when: {not: {not: {not: {not: {not: {not: {not: {not: {connector: x}}}}}}}}}
    keys: a
`},
	{"too many keys", `rules:
  - name: a
    keys: [k1, k2, k3, k4, k5, k6, k7, k8, k9, k10, k11, k12, k13, k14, k15, k16, k17]
`},
	{"alias", `rules:
  - name: a
    keys: &k [a]
  - name: b
    keys: *k
`},
	{"stop not a boolean", `rules:
  - name: a
    keys: a
    stop: "yes"
`},
	{"duplicate keys", `rules:
  - name: a
    name: b
    keys: a
    when:
      field: {$.a: 1, $.a: 2}
`},
	{"second document", "default: a\n---\ndefault: b\n"},
	{"rule not a mapping", "rules:\n  - a\n  - {name: b, keys: b, when: [connector]}\n"},
}

func TestParseErrors(t *testing.T) {
	if len(invalidRules) < 15 {
		t.Fatalf("only %d invalid rules files", len(invalidRules))
	}
	var out strings.Builder
	for _, tc := range invalidRules {
		r, err := Parse("r.yaml", []byte(tc.file))
		if err == nil {
			t.Errorf("%s: Parse accepted it", tc.name)
			continue
		}
		if r != nil {
			t.Errorf("%s: Parse returned rules with its error", tc.name)
		}
		var list yamlcheck.ErrorList
		if !errors.As(err, &list) {
			t.Errorf("%s: error %T is no ErrorList", tc.name, err)
		}
		fmt.Fprintf(&out, "== %s\n%s\n", tc.name, err)
	}
	golden(t, "invalid-rules.golden", out.String())
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range MaxRules {
		fmt.Fprintf(&b, "  - {name: r%d, keys: k, when: {connector: c%d}}\n", i, i)
	}
	if _, err := Parse("r.yaml", []byte(b.String())); err != nil {
		t.Fatalf("%d rules: %v", MaxRules, err)
	}
	b.WriteString("  - {name: last, keys: k}\n")
	_, err := Parse("r.yaml", []byte(b.String()))
	if want := "r.yaml:2: rules: has 1001 entries, at most 1000"; err == nil || err.Error() != want {
		t.Errorf("%d rules: %v, want %s", MaxRules+1, err, want)
	}

	conds := func(n int) string {
		var c []string
		for i := range n {
			c = append(c, fmt.Sprintf("$.f%d: %d", i, i))
		}
		return one("{field: {" + strings.Join(c, ", ") + "}}")
	}
	if _, err := Parse("r.yaml", []byte(conds(MaxConditions))); err != nil {
		t.Fatalf("%d conditions: %v", MaxConditions, err)
	}
	_, err = Parse("r.yaml", []byte(conds(MaxConditions+1)))
	if want := "r.yaml:3: rules[0].when: has 65 conditions, at most 64"; err == nil || err.Error() != want {
		t.Errorf("%d conditions: %v, want %s", MaxConditions+1, err, want)
	}

	deep := func(n int) string {
		return one(strings.Repeat("{not: ", n-1) + "{connector: x}" + strings.Repeat("}", n-1))
	}
	if _, err := Parse("r.yaml", []byte(deep(MaxDepth))); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Parse("r.yaml", []byte(deep(MaxDepth+1))); err == nil {
		t.Errorf("depth %d accepted", MaxDepth+1)
	}

	if _, err := Parse("r.yaml", []byte(one("{field: {\"$"+strings.Repeat(".a", MaxPathSteps+1)+"\": 1}}"))); err == nil {
		t.Errorf("a path of %d steps accepted", MaxPathSteps+1)
	}
}
